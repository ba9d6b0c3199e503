"""The content key of a scoring request, remembered so a stored run is found without rebuilding it.

A run's key (:class:`brainbench.scoring.spec.RunSpec`) hashes the model's weights and
the data actually scored, so computing it means building the network and loading the
benchmark. Both are fully determined by things that are cheap to check when

* the model's declaration determines its weights: a seeded, untrained model
  (``params.pretrained = false``), built by code whose source is part of the request;
* the benchmark's data are files its assembly declares with their sha256
  (``remote_files()``), present on this machine.

For such a request :func:`remember` (called by :func:`brainbench.results.runs.run` once
stage 2 has the key) stores the complete spec under the request's **fingerprint**
(:func:`request_inputs`): the ids, layers, readout, readout params and seed asked for;
the declarations of every registry entry the run reads; the sha256 of the source of
every brainbench module and of each plugin module those entries name; the versions of
the numerical libraries; and the sha256 of each data file (through
:func:`brainbench.caching.hash_cache.file_sha256`, so unchanged files are not read again).
:func:`known_spec` gives it back only for exactly the same fingerprint, and only when
the spec still hashes to its key; so ``analyze``, ``leaderboard run`` and the results
store find a stored run without importing torch, building the network or loading the
data. Anything else (another seed, a changed manifest, an edited module, a new torch,
a changed data file, a pretrained model, custom splits) is simply not found here and
takes the full path, which computes the key from scratch.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.caching import hash_cache
from brainbench.caching.content import content_key
from brainbench.errors import BrainbenchError

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.registry.manifest import AssemblyEntry, BenchmarkEntry
    from brainbench.scoring.arguments import CheckedRequest

#: The cache kind of remembered specs (see :mod:`brainbench.caching.hash_cache`).
KIND = "run-keys"
#: Libraries whose version may change a weight or a data hash.
LIBRARIES = ("brainbench", "torch", "torchvision", "numpy", "scipy", "xarray", "pillow", "netCDF4", "h5py", "pydantic")


def _module_file(module: str) -> Path | None:
    """The source file of a module, found without importing it or its packages (None if not found)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for location in spec.submodule_search_locations or []:
        base = Path(location).joinpath(*rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def code_sha256(python_names: list[str]) -> dict[str, str] | None:
    """sha256 of every brainbench module's source and of each module ``python_names`` name.

    None when a named module's source file cannot be found (e.g. a compiled extension):
    such a request is never remembered.
    """
    package = Path(__file__).resolve().parent
    files = {str(p.relative_to(package.parent)): p for p in sorted(package.rglob("*.py"))}
    for name in python_names:
        module = name.partition(":")[0]
        found = _module_file(module)
        if found is None:
            return None
        files.setdefault(module, found)
    return {name: hash_cache.file_sha256(path) for name, path in sorted(files.items())}


def _versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = ""
    return out


def _data_files(bench: BenchmarkEntry, assembly: AssemblyEntry) -> list[dict[str, str]] | None:
    """``[{dataset, path, declared, sha256}]`` of every file the benchmark loads, or None when not all are declared.

    The assembly plugin is the one the load stage builds
    (:func:`brainbench.scoring.benchmark.assembly_source`: the benchmark's ``assembly_params``
    on top of the assembly's).
    """
    from brainbench.assemblies.base import AssemblySource
    from brainbench.data.fetch import cache_path, mirror_root
    from brainbench.scoring.benchmark import assembly_source

    source = assembly_source(bench, assembly)
    if type(source).remote_files is AssemblySource.remote_files:
        return None
    remotes = source.remote_files()
    if not remotes or any(not str(r.known_hash or "").startswith("sha256:") for r in remotes):
        return None
    files = []
    mirror = mirror_root()
    for remote in remotes:
        candidates = [cache_path(remote)] + ([mirror / remote.dataset / remote.path] if mirror is not None else [])
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            return None  # not on this machine: the full path fetches it
        files.append(
            {
                "dataset": remote.dataset,
                "path": remote.path,
                "file": str(found),
                "declared": str(remote.known_hash),
                "sha256": hash_cache.file_sha256(found),
            }
        )
    return files


def request_inputs(request: CheckedRequest) -> dict[str, Any] | None:
    """The fingerprint of a checked scoring request (see the module docstring), or None when it has none.

    The request's ids, and the entries its benchmark's declaration refers to, were looked
    up by :func:`brainbench.scoring.arguments.check_request` (a lookup that failed refused
    the request there); no registry is asked here. Imports no torch; reads only the
    request's entries, module sources (hashed once per change) and the data files'
    recorded hashes.
    """
    if not request.by_id or request.tokens is not None or request.references is None:
        # objects: their content is not a declaration; a token rule: its version is in code;
        # a composite: its parts are remembered one by one
        return None
    from brainbench.registry.registry import MODEL_FAMILIES

    model, benchmark = str(request.model), str(request.benchmark)
    if "/" in model and model.partition("/")[0] in MODEL_FAMILIES:
        return None  # synthesized entries import their family's code
    model_entry, bench, refs = request.model_entry, request.benchmark_entry, request.references
    assert model_entry is not None and refs is not None  # by_id, and not a composite
    assembly, chain = refs.assembly, list(refs.readouts)
    assert assembly is not None  # a benchmark id's assembly is looked up (or refused) at the boundary
    metrics = [*(refs.metrics[m] for m in bench.metrics), refs.headline, *([refs.ceiling] if refs.ceiling else [])]
    if model_entry.params.get("pretrained") is not False:
        return None  # weights from a file or a download: only building the model hashes them
    names = [model_entry.python_name, assembly.python_name, *(m.python_name for m in metrics)]
    names += [e.python_name for e in chain if e.python_name]
    code = code_sha256(names)
    if code is None:
        return None
    try:
        files = _data_files(bench, assembly)
    except (BrainbenchError, OSError, TypeError):
        return None  # the full path reports it
    if files is None:
        return None
    entries = [model_entry, bench, assembly, *chain, *metrics]
    inputs = {
        "request": {
            "model": model,
            "benchmark": benchmark,
            "layers": None if request.layers is None else [str(x) for x in request.layers],
            "readout": request.readout,
            "readout_params": request.readout_params,
            "seed": int(request.seed),
        },
        "declarations": [[type(e).__name__, e.model_dump(mode="json")] for e in entries],
        "code": code,
        "libraries": _versions(),
        "data": files,
    }
    try:  # readout params given as arrays or other objects have no JSON form: not remembered
        json.dumps(inputs, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return inputs


def remember(inputs: dict[str, Any] | None, content: dict[str, Any]) -> None:
    """Store a complete spec's content under a request's fingerprint (nothing when it has none)."""
    if inputs is not None:
        hash_cache.remember(KIND, inputs, {"content": content, "key": content_key(content)})


def known_spec(inputs: dict[str, Any] | None) -> tuple[dict[str, Any], str] | None:
    """``(spec content, key)`` remembered for exactly this fingerprint, checked to hash to its key."""
    if inputs is None:
        return None
    value = hash_cache.recall(KIND, inputs)
    if not isinstance(value, dict) or not isinstance(value.get("content"), dict):
        return None
    content, key = value["content"], value.get("key")
    if not isinstance(key, str) or content_key(content) != key:
        return None
    return content, key
