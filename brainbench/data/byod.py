"""Bring your own data: wrap recordings and images into an assembly and stimulus set.

    >>> from brainbench.data.byod import wrap_recordings
    >>> from brainbench.benchmark import custom_benchmark
    >>> data = wrap_recordings("responses.npy", "images/", identifier="my-v1", region="V1")
    >>> result = brainbench.score("alexnet-untrained", custom_benchmark(data.assembly, data.stimuli))

The result is accepted by every part of the scorer exactly like a built-in benchmark.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from brainbench.assemblies.base import LoadedAssembly
from brainbench.data.assembly import AssemblyError, load_assembly, make_assembly
from brainbench.data.fetch import load_npy, safe_members
from brainbench.data.stimuli import StimulusSet
from brainbench.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def _read_responses(responses) -> np.ndarray:
    if isinstance(responses, (str, os.PathLike)):
        path = Path(responses)
        if not path.is_file():
            raise DataError(f"responses file {path} does not exist.")
        if path.suffix == ".npy":
            return load_npy(path)
        if path.suffix in (".nc", ".nc4"):
            return load_assembly(path).values
        raise DataError(f"responses must be a .npy or .nc file, got {path.name}.")
    return np.asarray(responses, dtype=float)


def _read_images(images, identifier: str) -> StimulusSet:
    if isinstance(images, StimulusSet):
        return images
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}).")
            return StimulusSet.from_files(files, identifier=identifier)
        if path.suffix == ".zip" and path.is_file():
            with zipfile.ZipFile(path) as archive:
                members = sorted(i.filename for i in safe_members(archive)
                                 if Path(i.filename).suffix.lower() in IMAGE_SUFFIXES)
            return StimulusSet.from_zip(path, members, identifier=identifier)
        raise DataError(f"images must be a folder, a .zip file, a list of files or an array; got {path}.")
    if isinstance(images, np.ndarray):
        return StimulusSet.from_arrays(list(images), identifier=identifier)
    images = list(images)
    if images and isinstance(images[0], (str, os.PathLike)):
        return StimulusSet.from_files(images, identifier=identifier)
    return StimulusSet.from_arrays(images, identifier=identifier)


def wrap_recordings(
    responses,
    images,
    *,
    identifier: str = "custom",
    stimulus_ids: Sequence[str] | None = None,
    neuroid_ids: Sequence[str] | None = None,
    region: str | Sequence[str] | None = None,
    species: str = "unknown",
    units: str = "unknown",
    response_window_ms: tuple[float, float] = (float("nan"), float("nan")),
    citation: str = "",
    neuroid_coords: Mapping[str, Sequence] | None = None,
    stimulus_coords: Mapping[str, Sequence] | None = None,
) -> LoadedAssembly:
    """A validated assembly plus stimulus set from a user's own recordings.

    Args:
        responses: ``(stimulus, neuroid)`` averaged or ``(repetition, stimulus, neuroid)``
            trial responses (NaN for missing trials), as an array or a ``.npy``/``.nc`` path.
        images: a folder or ``.zip`` of images (sorted by name), a list of image paths,
            an array ``(stimulus, H, W[, 3])``, a list of arrays, or a StimulusSet; the
            k-th image belongs to the k-th stimulus of ``responses``.
        stimulus_ids: default the image ids (file stems).
        neuroid_ids: default ``n0000``, ``n0001``, ...
        region: one region for all neuroids or one per neuroid.
    """
    values = _read_responses(responses)
    stimuli = _read_images(images, identifier)
    if values.ndim not in (2, 3):
        raise AssemblyError(f"responses must be 2-d or 3-d, got shape {values.shape}.")
    n_stimuli, n_neuroids = values.shape[-2], values.shape[-1]
    if len(stimuli) != n_stimuli:
        raise AssemblyError(
            f"{len(stimuli)} images but responses have {n_stimuli} stimuli (axis -2 of shape {values.shape})."
        )
    ids = list(stimulus_ids) if stimulus_ids is not None else list(stimuli.ids)
    if stimulus_ids is not None:
        stimuli = StimulusSet(ids, stimuli._sources, stimuli._kind, stimuli.metadata, identifier)
    coords = dict(neuroid_coords or {})
    if region is not None:
        coords["region"] = [region] * n_neuroids if isinstance(region, str) else list(region)
    assembly = make_assembly(
        values,
        stimulus_ids=ids,
        neuroid_ids=neuroid_ids if neuroid_ids is not None else [f"n{k:04d}" for k in range(n_neuroids)],
        identifier=identifier,
        species=species,
        units=units,
        response_window_ms=response_window_ms,
        citation=citation,
        neuroid_coords=coords,
        stimulus_coords=stimulus_coords,
    )
    return LoadedAssembly(assembly, stimuli)
