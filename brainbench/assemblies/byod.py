"""Bring your own data: wrap recordings and images into an assembly and stimulus set.

    >>> from brainbench.assemblies.byod import wrap_recordings
    >>> from brainbench.scoring.benchmark import custom_benchmark
    >>> data = wrap_recordings("responses.npy", "images/", identifier="my-v1", region="V1")
    >>> result = brainbench.score("alexnet-untrained", custom_benchmark(data.assembly, data.stimuli))

The result is accepted by every part of the scorer exactly like a built-in benchmark.
The rules (each refusal is a :class:`~brainbench.errors.DataError` or
:class:`~brainbench.data.assembly.AssemblyError` with one sentence):

* **Response axes.** Default ``(stimulus, neuroid)`` for 2-d and ``(repetition, stimulus,
  neuroid)`` for 3-d arrays; ``dims=`` names any other order, and an
  ``xarray.DataArray``'s own dim names are honoured the same way. Without names, a shape
  is read by default only when no other reading fits: it is refused, with a sentence
  that names ``dims=``, when its default stimulus axis does not match the number of
  images but another axis does, when more than one axis matches the number of images
  (square data), or, for 3-d, when there are at least as many repetitions (axis 0) as
  neuroids (axis 2), so either could be the repetition axis.
* **Image order.** A folder or ``.zip`` is read in natural order of the file names
  (``img2`` before ``img10``); ``stimulus_ids=`` instead selects and orders its images by
  file stem. Pixel ranges of arrays: see :mod:`brainbench.data.stimuli`.
* **Identifier.** A safe file name (:mod:`brainbench.identifiers`): it names cache and
  result files.
* **Constant neuroids.** A neuroid whose (trial-averaged) response is the same for every
  stimulus cannot be predicted (its r is undefined): it is dropped with a warning; if
  every neuroid is constant the recordings are refused.
* **Size.** At least :data:`MIN_STIMULI` stimuli (the smallest split has 2 training and
  1 test stimulus).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import xarray as xr

from brainbench.assemblies.base import LoadedAssembly
from brainbench.data.assembly import MEAN_DIMS, TRIAL_DIMS, AssemblyError, load_assembly, make_assembly
from brainbench.data.fetch import load_npy, safe_members
from brainbench.data.stimuli import StimulusSet, natural_key
from brainbench.errors import DataError
from brainbench.identifiers import check_identifier

#: ``responses`` of :func:`wrap_recordings`: an array (or nested sequences) of numbers, or a
#: ``.npy`` / ``.nc`` file.
ResponsesLike: TypeAlias = "np.ndarray | Sequence[Any] | str | os.PathLike[str]"
#: ``images`` of :func:`wrap_recordings`: a StimulusSet, a folder or ``.zip``, a list of image
#: files, an array ``(stimulus, H, W[, 3])`` or a list of arrays.
ImagesLike: TypeAlias = (
    "StimulusSet | str | os.PathLike[str] | np.ndarray | Sequence[str | os.PathLike[str]] | Sequence[np.ndarray]"
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
MIN_STIMULI = 3


def _numeric(values: np.ndarray, source: str) -> np.ndarray:
    if values.dtype.kind == "c":
        raise DataError(
            f"{source} holds complex numbers; pass the real part or magnitude you mean (e.g. np.abs(responses))."
        )
    if values.dtype.kind not in "biuf":
        raise DataError(f"{source} holds {values.dtype} values, not numbers; save the responses as a float array.")
    return values.astype(float, copy=False)


def _read_responses(responses: ResponsesLike) -> tuple[np.ndarray, bool]:
    """``(values, from_netcdf)``; netCDF assemblies come in the canonical dim order."""
    if isinstance(responses, (str, os.PathLike)):
        path = Path(responses)
        if not path.is_file():
            raise DataError(f"responses file {path} does not exist.")
        if path.suffix == ".npy":
            return _numeric(load_npy(path), f"responses file {path.name}"), False
        if path.suffix in (".nc", ".nc4"):
            return load_assembly(path).values, True
        raise DataError(f"responses must be a .npy or .nc file, got {path.name}.")
    try:
        values = np.asarray(responses)
    except ValueError as error:
        raise DataError("responses must be a rectangular numeric array (rows of equal length).") from error
    return _numeric(values, "responses"), False


def _select_by_stem(candidates: Sequence[str], stimulus_ids: Sequence[str] | None, where: str) -> list[str]:
    """``candidates`` (file or member names) in natural order, or those whose stems are ``stimulus_ids``."""
    ordered = sorted(candidates, key=lambda name: natural_key(Path(name).name))
    if stimulus_ids is None:
        return ordered
    by_stem: dict[str, list[str]] = {}
    for name in ordered:
        by_stem.setdefault(Path(name).stem, []).append(name)
    ids = [str(i) for i in stimulus_ids]
    missing = [i for i in ids if i not in by_stem]
    if missing:
        raise DataError(f"{len(missing)} stimulus_ids match no image file stem in {where}, e.g. {missing[0]!r}.")
    doubled = next((i for i in ids if len(by_stem[i]) > 1), None)
    if doubled is not None:
        raise DataError(f"stimulus id {doubled!r} matches several files in {where} ({', '.join(by_stem[doubled])}).")
    return [by_stem[i][0] for i in ids]


def _read_images(images: ImagesLike, identifier: str, stimulus_ids: Sequence[str] | None) -> tuple[StimulusSet, bool]:
    """The stimulus set, and whether ``stimulus_ids`` already selected and ordered it."""
    if isinstance(images, StimulusSet):
        return (images if stimulus_ids is None else images.subset([str(i) for i in stimulus_ids])), True
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if path.is_dir():
            names = [p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            if not names:
                raise DataError(f"{path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}).")
            files = [path / n for n in _select_by_stem(names, stimulus_ids, str(path))]
            return StimulusSet.from_files(files, identifier=identifier), True
        if path.suffix == ".zip" and path.is_file():
            try:
                with zipfile.ZipFile(path) as archive:
                    members = [
                        i.filename
                        for i in safe_members(archive)
                        if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_SUFFIXES
                    ]
            except zipfile.BadZipFile as error:
                raise DataError(f"{path} is not a readable zip archive.") from error
            if not members:
                raise DataError(f"{path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}).")
            members = _select_by_stem(members, stimulus_ids, path.name)
            return StimulusSet.from_zip(path, members, identifier=identifier), True
        raise DataError(f"images must be a folder, a .zip file, a list of files or an array; got {path}.")
    if isinstance(images, np.ndarray):
        return StimulusSet.from_arrays(list(images), identifier=identifier), False
    items = list(images)
    files = [Path(p) for p in items if isinstance(p, (str, os.PathLike))]
    if files:
        if len(files) != len(items):
            raise DataError("a list of images must hold only image files or only arrays, not both.")
        return StimulusSet.from_files(files, identifier=identifier), False
    return StimulusSet.from_arrays([np.asarray(im) for im in items], identifier=identifier), False


def _named_dims(responses: ResponsesLike, dims: Sequence[str] | None) -> Sequence[str] | None:
    """The dims an ``xarray.DataArray`` names (honoured like ``dims=``), else ``dims``.

    xarray's default names (``dim_0``, ``dim_1``, ...) name nothing. A DataArray whose
    names disagree with ``dims=`` is refused.
    """
    if not isinstance(responses, xr.DataArray):
        return dims
    names = tuple(str(d) for d in responses.dims)
    if all(name == f"dim_{k}" for k, name in enumerate(names)):
        return dims
    if dims is not None and tuple(str(d) for d in dims) != names:
        raise AssemblyError(
            f"responses name their dims {names} but dims={tuple(dims)} was given; drop dims= or make them agree."
        )
    return names


def _ambiguity(shape: tuple[int, ...], n_images: int) -> str | None:
    """Why the default axes of an array without ``dims`` cannot be trusted, or None.

    An array is read without ``dims`` only when exactly one reading fits: one axis as
    long as the images (for 3-d, the middle one) and, for 3-d, fewer repetitions (axis
    0) than neuroids (axis 2) -- otherwise the first and last axis could each be the
    repetition axis (Cowley's own ``(neuroid, stimulus, repetition)`` = ``(50, 640, 10)``
    would silently be read as 50 repetitions of 10 neuroids).
    """
    matching = [axis for axis, size in enumerate(shape) if size == n_images]
    if len(matching) > 1:
        return (
            f"axes {', '.join(map(str, matching))} all match the {n_images} images, so any could be the stimulus axis"
        )
    if len(shape) == 3 and shape[0] >= shape[2] and shape[0] > 1:
        return (
            f"{shape[0]} repetitions of {shape[2]} neuroids is no more likely than {shape[2]} repetitions "
            f"of {shape[0]} neuroids, so axis 0 or axis 2 could be the repetition axis"
        )
    return None


def _canonical_axes(values: np.ndarray, dims: Sequence[str] | None, n_images: int) -> np.ndarray:
    """``values`` transposed to ``(stimulus, neuroid)`` or ``(repetition, stimulus, neuroid)``."""
    if values.ndim not in (2, 3):
        raise AssemblyError(f"responses must be 2-d or 3-d, got shape {values.shape}.")
    canonical = TRIAL_DIMS if values.ndim == 3 else MEAN_DIMS
    if dims is None:
        stimulus_axis = values.ndim - 2
        others = [a for a in range(values.ndim) if a != stimulus_axis and values.shape[a] == n_images]
        if values.shape[stimulus_axis] != n_images and others:
            guess = list(canonical)
            guess[stimulus_axis], guess[others[0]] = guess[others[0]], guess[stimulus_axis]
            raise AssemblyError(
                f"responses of shape {values.shape} are read as {canonical}, which does not match the "
                f"{n_images} images, but axis {others[0]} does; say which axis is which, "
                f"e.g. dims={tuple(guess)}."
            )
        why = _ambiguity(values.shape, n_images) if values.shape[stimulus_axis] == n_images else None
        if why is not None:  # (a count that matches no axis is refused below, naming both counts)
            raise AssemblyError(
                f"responses of shape {values.shape} are ambiguous ({why}); say which axis is which with dims=, "
                f"e.g. dims={canonical} or dims={tuple(reversed(canonical))}."
            )
        return values
    dims = tuple(str(d) for d in dims)
    if sorted(dims) != sorted(canonical):
        raise AssemblyError(f"dims={dims} must name each of {canonical} once for {values.ndim}-d responses.")
    return values.transpose([dims.index(d) for d in canonical])


def wrap_recordings(
    responses: ResponsesLike,
    images: ImagesLike,
    *,
    identifier: str = "custom",
    dims: Sequence[str] | None = None,
    stimulus_ids: Sequence[str] | None = None,
    neuroid_ids: Sequence[str] | None = None,
    region: str | Sequence[str] | None = None,
    species: str = "unknown",
    units: str = "unknown",
    response_window_ms: tuple[float, float] = (float("nan"), float("nan")),
    citation: str = "",
    neuroid_coords: Mapping[str, Sequence[Any]] | None = None,
    stimulus_coords: Mapping[str, Sequence[Any]] | None = None,
) -> LoadedAssembly:
    """A validated assembly plus stimulus set from a user's own recordings.

    Args:
        responses: an array or a ``.npy`` file of real numbers, ``(stimulus, neuroid)``
            averaged or ``(repetition, stimulus, neuroid)`` trial responses (NaN for
            missing trials) unless ``dims`` says otherwise; or a ``.nc`` assembly (its own
            dims are used). Complex or non-numeric values are refused.
        images: a folder or ``.zip`` of images (natural name order: ``img2`` before
            ``img10``), a list of image paths (in the order given), an array
            ``(stimulus, H, W[, 3])`` or a list of arrays (uint8 0-255, or float 0-1 or
            0-255 by one rule for the whole set, see :mod:`brainbench.data.stimuli`),
            or a StimulusSet; the k-th image belongs to the k-th stimulus of
            ``responses``. Files are checked to be readable images.
        identifier: names the assembly and its cache files; 1-128 letters, digits, ``.``,
            ``_`` or ``-``, starting with a letter or digit, no ``..``.
        dims: the axis names of ``responses`` in order, any permutation of
            ``("repetition", "stimulus", "neuroid")`` (3-d) or ``("stimulus", "neuroid")``
            (2-d), e.g. ``("neuroid", "stimulus", "repetition")``.
        stimulus_ids: for a folder, a zip or a StimulusSet: the images to use, by file
            stem (id), in response order; ids that match no file are refused. For a list
            of files or arrays: the ids of the images, in order. Default the file stems
            (``stim00000``, ... for arrays).
        neuroid_ids: default ``n0000``, ``n0001``, ...
        region: one region for all neuroids or one per neuroid.
    Returns:
        The assembly (constant neuroids dropped with a warning) and its stimulus set.
    """
    identifier = check_identifier(identifier, "identifier")
    dims = _named_dims(responses, dims)
    values, from_netcdf = _read_responses(responses)
    if from_netcdf and dims is not None:
        raise AssemblyError("dims= applies to arrays and .npy files; a .nc assembly names its own dims.")
    stimuli, selected = _read_images(images, identifier, stimulus_ids)
    stimuli.verify()
    values = _canonical_axes(values, dims, len(stimuli))
    n_stimuli, n_neuroids = values.shape[-2], values.shape[-1]
    if len(stimuli) != n_stimuli:
        raise AssemblyError(
            f"{len(stimuli)} images but responses have {n_stimuli} stimuli (axis -2 of shape {values.shape})."
        )
    if n_stimuli < MIN_STIMULI:
        raise AssemblyError(f"{n_stimuli} stimuli are too few to cross-validate; give at least {MIN_STIMULI}.")
    if stimulus_ids is not None and not selected:
        ids = [str(i) for i in stimulus_ids]
        if len(ids) != n_stimuli:
            raise AssemblyError(f"{len(ids)} stimulus_ids for {n_stimuli} stimuli.")
        stimuli = StimulusSet(ids, stimuli._sources, stimuli._kind, stimuli.metadata, identifier)
    coords = dict(neuroid_coords or {})
    if region is not None:
        regions = [region] * n_neuroids if isinstance(region, str) else [str(r) for r in region]
        if len(regions) != n_neuroids:
            raise AssemblyError(
                f"region lists {len(regions)} values for {n_neuroids} neuroids; give one region or one per neuroid."
            )
        coords["region"] = regions
    assembly = make_assembly(
        values,
        stimulus_ids=stimuli.ids,
        neuroid_ids=neuroid_ids if neuroid_ids is not None else [f"n{k:04d}" for k in range(n_neuroids)],
        identifier=identifier,
        species=species,
        units=units,
        response_window_ms=response_window_ms,
        citation=citation,
        neuroid_coords=coords,
        stimulus_coords=stimulus_coords,
    )
    return LoadedAssembly(_drop_constant(assembly), stimuli)


def _drop_constant(assembly: xr.DataArray) -> xr.DataArray:
    """Drop (with a warning) neuroids whose trial-averaged response never varies; refuse if all do."""
    values = assembly.values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0) if values.ndim == 3 else values
    constant = np.ptp(mean, axis=0) == 0
    if not constant.any():
        return assembly
    ids = assembly.neuroid_id.values
    if constant.all():
        raise AssemblyError(
            f"every neuroid's response is the same for all {mean.shape[0]} stimuli; "
            "there is nothing to predict (check the responses' axes or units)."
        )
    dropped = ids[constant]
    warnings.warn(
        f"dropping {dropped.size} of {ids.size} neuroids whose response is the same for every stimulus "
        f"(e.g. {', '.join(map(str, dropped[:3]))}); nothing can predict them.",
        UserWarning,
        stacklevel=3,
    )
    return assembly.isel(neuroid=np.flatnonzero(~constant))
