"""Run one method on one prepared layer in a fresh process (called by ``run.py``).

Usage: ``python benchmarks/worker.py METHOD INPUT_DIR LAYER OUT_PREFIX [DEVICE]``.
Loads ``INPUT_DIR/{layer}.npy`` (or the path in ``{layer}.path``), ``Y.npy``,
``splits.npz`` and ``alphas-{layer}.npy`` fully into memory, times only the method
call, and writes ``OUT_PREFIX.npy`` (pooled predictions) and ``OUT_PREFIX.json``
(``time_s``; ``input_mb``: resident memory before the method ran; ``peak_mb``: this
process's peak resident memory, ``VmHWM``, read at the end). ``VmHWM`` belongs to the
address space created at ``exec``, so unlike ``ru_maxrss`` it does not inherit the
parent's high-water mark.
Works with numpy 1 or 2 and imports nothing of brainbench unless the method does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def status_mb(field: str = "VmRSS") -> float:
    """A memory line of ``/proc/self/status`` in MB (VmRSS: now; VmHWM: peak of this process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> None:
    method, folder, layer, out = argv[:4]
    device = argv[4] if len(argv) > 4 else "cpu"
    from methods import METHODS

    run = METHODS[method]
    folder = Path(folder)
    pointer = folder / f"{layer}.path"
    source = Path(pointer.read_text().strip()) if pointer.is_file() else folder / f"{layer}.npy"
    X = np.ascontiguousarray(np.load(source), dtype=np.float32)
    Y = np.load(folder / "Y.npy").astype(np.float64)
    stored = np.load(folder / "splits.npz")
    splits = [(stored[f"train{k}"], stored[f"test{k}"]) for k in range(len(stored.files) // 2)]
    alphas = np.load(folder / f"alphas-{layer}.npy")
    import importlib

    from methods import PREIMPORT

    # library imports happen before the clock starts, for every method alike
    for prefix, modules in PREIMPORT.items():
        if method.startswith(prefix):
            for module in modules:
                importlib.import_module(module)
    if device == "cuda":
        import torch

        torch.zeros(1, device="cuda")  # CUDA context creation is not the method's cost
    before = status_mb("VmRSS")
    tick = time.perf_counter()
    prediction = run(X, Y, splits, alphas, device)
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
    elapsed = time.perf_counter() - tick
    np.save(out + ".npy", np.asarray(prediction, dtype=np.float64))
    Path(out + ".json").write_text(json.dumps({"time_s": elapsed, "input_mb": before, "peak_mb": status_mb("VmHWM")}))


if __name__ == "__main__":
    main(sys.argv[1:])
