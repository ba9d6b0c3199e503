"""The end-to-end floor: interpreter start-up + AlexNet forward pass + Gram matrices.

Prints one JSON line: ``startup_s`` (this process's age once torch and torchvision are
imported, i.e. interpreter start-up plus the framework imports any tool needs),
``forward_s`` (a randomly initialised torchvision AlexNet over the 640 Cowley et al.
V4 images, batches of 32, keeping every layer brainbench scores via forward hooks),
``gram_s`` (``X_c X_c^T`` per layer in float32, one matmul each), and ``floor_s``,
their sum. Image decoding and placement are done before the clock and not counted, so
the floor is strict: ``brainbench score`` also decodes the images and writes its cache.

Usage: ``python benchmarks/floor.py [--device cpu|cuda] [--layers conv1,...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def process_age() -> float:
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


def main() -> None:
    import torch
    import torchvision

    startup = process_age()
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", default="conv1,conv2,conv3,conv4,conv5,pool5,fc6,fc7")
    args = parser.parse_args()
    layers = args.layers.split(",")

    # not timed: reading and placing the images (same code path as the scorer's)
    from brainbench.models.alexnet import LAYERS
    from brainbench.models.preprocess import to_tensor, with_placement
    from brainbench.registry import get_registry
    from brainbench.scoring.benchmark import resolve_benchmark

    registry = get_registry()
    bench = resolve_benchmark("cowley2023-V4", registry)
    stimuli = bench.load(progress=False).stimuli
    from brainbench.models.base import load_model

    prep = with_placement(load_model(registry.model("alexnet-untrained")).preprocessing, bench.entry.stimulus_placement)
    images = torch.stack([to_tensor(stimuli.image(k), prep) for k in range(len(stimuli))])
    device = torch.device(args.device)

    tick = time.perf_counter()
    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None).eval().to(device)
    modules = dict(net.named_modules())
    outputs: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    for layer in layers:
        modules[LAYERS[layer]].register_forward_hook(
            lambda _m, _i, out, layer=layer: outputs[layer].append(out.detach().flatten(1).cpu())
        )
    with torch.no_grad():
        for start in range(0, len(images), 32):
            net(images[start : start + 32].to(device))
    features = {layer: torch.cat(chunks) for layer, chunks in outputs.items()}
    forward = time.perf_counter() - tick

    tick = time.perf_counter()
    for X in features.values():
        X = X.to(device)
        X = X - X.mean(0)
        (X @ X.T).double().cpu()
    gram = time.perf_counter() - tick
    print(
        json.dumps(
            {
                "startup_s": round(startup, 3),
                "forward_s": round(forward, 3),
                "gram_s": round(gram, 3),
                "floor_s": round(startup + forward + gram, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
