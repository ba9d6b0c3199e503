"""The assembly plugin of the Allen Brain Observatory natural-scene benchmarks.

de Vries, S. E. J., Lecoq, J. A., Buice, M. A., et al. (2020). A large-scale standardized
physiological survey reveals functional organization of the mouse visual cortex. Nature
Neuroscience 23, 138-151. Data: Allen Brain Observatory Visual Coding 2-photon,
(c) Allen Institute, https://observatory.brain-map.org/visualcoding (Allen Institute
terms of use).

One assembly per area concatenates the neuroids (cells) of the area's pinned
``three_session_B`` experiments; all experiments show the same 118 natural scenes
(918 x 1174 grayscale, 250 ms each, about 50 times each, interleaved with blanks).

Where an NWB file comes from, in order: an allensdk cache (``allensdk_manifest`` or
``$BRAINBENCH_ALLENSDK_MANIFEST``; read directly, downloaded through allensdk's
``BrainObservatoryCache`` when allensdk is installed), then brainbench's own cache,
``$BRAINBENCH_MIRROR/allen-brain-observatory/ophys_experiment_data/<id>.nwb``, then a
hash-checked download (URL resolved through the Allen API only at that moment).

Stimulus placement (declared per benchmark in ``registry.toml``: ``stimulus_placement =
{ placement = "resize" }``): the whole 918 x 1174 frame is resized to the model's square
input. The mouse saw the whole frame: AllenSDK's ``stimulus_info`` maps the 918 x 1174
scene onto the centre of the 1200 x 1920 monitor 15 cm from the eye (a monitor spanning
roughly 120 x 95 degrees), so the scene covers tens of degrees, and the cells of one
experiment have large receptive fields scattered across it, not all central. A centre
crop would discard 128 px on each side, 22 % of the width, including what drives cells
with peripheral receptive fields; resizing keeps every pixel the animal saw at the cost
of a uniform 1.28 horizontal squeeze, which the readout's per-neuron weights over all
positions absorb. ``pad`` (whole frame, aspect kept, on gray) remains available as an override.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbench.assemblies.allen.experiments import (
    S3_URL,
    Experiment,
    pinned,
    resolve_download_url,
)
from brainbench.assemblies.allen.nwb import (
    N_SCENES,
    READER_VERSION,
    TRACES,
    read_session,
    read_template,
)
from brainbench.assemblies.allen.responses import (
    WINDOW_MS,
    WINDOWS,
    repetitions,
    sweep_length,
    trial_responses,
)
from brainbench.assemblies.base import AssemblySource, LoadedAssembly, build_key, cached_build
from brainbench.caching import integrity as cache_integrity
from brainbench.data.assembly import make_assembly
from brainbench.data.fetch import (
    RemoteFile,
    cache_path,
    check_hash,
    fetch,
    home,
    mirror_root,
    offline,
)
from brainbench.data.stimuli import StimulusSet
from brainbench.errors import DataError

if TYPE_CHECKING:
    import xarray as xr

DATASET = "allen-brain-observatory"
MANIFEST_ENV = "BRAINBENCH_ALLENSDK_MANIFEST"
CITATION = (
    "de Vries, S. E. J., Lecoq, J. A., Buice, M. A., et al. (2020). A large-scale standardized "
    "physiological survey reveals functional organization of the mouse visual cortex. "
    "Nature Neuroscience 23, 138-151. Allen Brain Observatory, (c) Allen Institute."
)
LICENSE = "Allen Institute terms of use (https://alleninstitute.org/terms-of-use/)"


def stimulus_ids() -> list[str]:
    """Ids of the 118 scenes in template order (``natural_scene_000`` .. ``_117``)."""
    return [f"natural_scene_{k:03d}" for k in range(N_SCENES)]


def remote_file(experiment: Experiment) -> RemoteFile:
    """The remote NWB file of one experiment (its URL: see :meth:`AllenNaturalScenes.locate`)."""
    return RemoteFile(
        dataset=DATASET,
        path=f"ophys_experiment_data/{experiment.experiment_id}.nwb",
        url=S3_URL.format(id=experiment.experiment_id),
        known_hash=f"sha256:{experiment.sha256}" if experiment.sha256 else None,
        size=experiment.size,
    )


def allensdk_nwb_path(manifest: str | os.PathLike, experiment_id: int) -> Path:
    """Where an allensdk ``BrainObservatoryCache`` manifest puts an experiment's NWB file.

    The manifest is JSON, ``{"manifest": [{"key", "type", "spec", "parent_key"?}, ...]}``;
    ``EXPERIMENT_DATA`` (spec ``ophys_experiment_data/%d.nwb``) hangs off ``BASEDIR``,
    which is relative to the manifest's folder unless absolute (AllenSDK
    ``config/manifest.py`` and ``core/brain_observatory_cache.py``).
    """
    manifest = Path(manifest)
    try:
        entries = {e["key"]: e for e in json.loads(manifest.read_text())["manifest"] if "key" in e}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{manifest} is not a readable allensdk manifest ({error}); pass the "
            "manifest.json of a BrainObservatoryCache."
        ) from None

    def resolve(key: str) -> Path:
        if key not in entries:
            raise DataError(f"allensdk manifest {manifest} has no {key!r} entry.")
        entry = entries[key]
        spec = Path(*str(entry["spec"]).split("/")) if not str(entry["spec"]).startswith("/") else Path(entry["spec"])
        if entry.get("parent_key"):
            spec = resolve(entry["parent_key"]) / spec
        return spec if spec.is_absolute() else manifest.parent / spec

    spec = resolve("EXPERIMENT_DATA")
    return Path(str(spec) % int(experiment_id))


class AllenNaturalScenes(AssemblySource):
    """Trial assembly ``(repetition, stimulus=118, neuroid)`` of one area's pinned experiments.

    Args:
        area: ``VISp``, ``VISl``, ``VISal``, ``VISam``, ``VISpm`` or ``VISrl``.
        variant: ``pinned`` (experiments with a known sha256) or ``full`` (every
            non-failed experiment), see :mod:`brainbench.assemblies.allen.experiments`.
        window: ``500ms`` (default, Allen's NaturalScenes ``mean_sweep_response``) or
            ``250ms`` (the presentation only, as in Cocjin & Sanchez-Iglesias); see
            :mod:`brainbench.assemblies.allen.responses`.
        trace: ``corrected`` (default, Allen's) or ``dff``.
        allensdk_manifest: an allensdk ``BrainObservatoryCache`` manifest.json whose
            downloaded files are reused (default ``$BRAINBENCH_ALLENSDK_MANIFEST``).
    """

    def __init__(
        self,
        area: str,
        variant: str = "pinned",
        window: str = "500ms",
        trace: str = "corrected",
        allensdk_manifest: str | None = None,
    ) -> None:
        if window not in WINDOWS:
            raise DataError(f"window must be one of {sorted(WINDOWS)}, got {window!r}.")
        if trace not in TRACES:
            raise DataError(f"trace must be one of {TRACES}, got {trace!r}.")
        self.area, self.variant, self.window, self.trace = area, variant, window, trace
        self.experiments = pinned(area, variant)
        self.identifier = f"allen-{area}" + ("-full" if variant == "full" else "")
        manifest = allensdk_manifest or os.environ.get(MANIFEST_ENV) or None
        self.allensdk_manifest = Path(manifest) if manifest else None

    # files ---------------------------------------------------------------------------
    def remote_files(self) -> list[RemoteFile]:
        return [remote_file(e) for e in self.experiments]

    def locate(self, experiment: Experiment, progress: bool = True) -> Path:
        """A local, hash-checked NWB file of ``experiment`` (downloading it if needed)."""
        remote = remote_file(experiment)
        if self.allensdk_manifest is not None:
            found = self._from_allensdk(experiment, remote, progress)
            if found is not None:
                return found
        mirror = mirror_root()
        local = cache_path(remote).is_file() or (
            mirror is not None and (mirror / remote.dataset / remote.path).is_file()
        )
        if not local and not offline():
            # resolve Allen's own download route only when a download is about to happen
            remote = dataclasses.replace(remote, url=resolve_download_url(experiment.experiment_id))
        return fetch(remote, progress)

    def _from_allensdk(self, experiment: Experiment, remote: RemoteFile, progress: bool) -> Path | None:
        if self.allensdk_manifest is None:
            return None
        path = allensdk_nwb_path(self.allensdk_manifest, experiment.experiment_id)
        if not path.is_file() and not offline():
            try:
                from allensdk.core.brain_observatory_cache import BrainObservatoryCache
            except ImportError:
                return None  # allensdk is optional: brainbench downloads the file itself
            cache = BrainObservatoryCache(manifest_file=str(self.allensdk_manifest))
            cache.get_ophys_experiment_data(experiment.experiment_id)
        if not path.is_file():
            return None
        check_hash(path, remote)
        return path

    def fetch(self, progress: bool = True) -> list[Path]:
        sizes = [e.size for e in self.experiments if e.size]
        if progress:
            print(
                f"{self.identifier}: {len(self.experiments)} NWB files, {sum(sizes) / 1e9:,.2f} GB declared",
                file=sys.stderr,
            )
        return [self.locate(e, progress) for e in self.experiments]

    # assembly ------------------------------------------------------------------------
    def _key(self) -> str:
        return build_key(
            experiments=[(e.experiment_id, e.sha256) for e in self.experiments],
            window=self.window,
            trace=self.trace,
            reader=READER_VERSION,
        )

    def _template_path(self) -> Path:
        key = build_key(experiments=[e.experiment_id for e in self.experiments], reader=READER_VERSION)
        return home() / "extracted" / DATASET / f"natural_scenes_template-{self.identifier}-{key}.npy"

    def load(self, progress: bool = True) -> LoadedAssembly:
        assembly = cached_build(self.identifier, self._key(), lambda: self._build(progress))
        template = self._cached_template(assembly.attrs["template_sha256"], progress)
        stimuli = StimulusSet.from_arrays(
            list(template), ids=stimulus_ids(), identifier=f"{self.identifier}-natural-scenes"
        )
        return LoadedAssembly(assembly, stimuli)

    def _cached_template(self, expected: str, progress: bool) -> np.ndarray:
        path = self._template_path()
        if path.is_file():
            template = np.load(path, allow_pickle=False)
            if _array_hash(template) == expected:
                return template
        template = read_template(self.locate(self.experiments[0], progress))
        if _array_hash(template) != expected:
            raise DataError(
                f"the natural-scene template of experiment {self.experiments[0].experiment_id} "
                "differs from the one the cached assembly was built with; delete "
                f"{home() / 'assemblies'} and run again."
            )
        _save_npy(template, path)
        return template

    def _build(self, progress: bool) -> xr.DataArray:
        if not self.experiments:
            raise DataError(f"{self.identifier} pins no experiments.")
        blocks: list[np.ndarray] = []
        coords: dict[str, list[Any]] = {
            k: []
            for k in (
                "region",
                "experiment_id",
                "container_id",
                "cre_line",
                "imaging_depth",
                "cell_specimen_id",
            )
        }
        reference: np.ndarray | None = None
        for experiment in self.experiments:
            path = self.locate(experiment, progress)
            template = read_template(path)
            if reference is None:
                reference = template
            elif template.shape != reference.shape or not np.array_equal(template, reference):
                raise DataError(
                    f"the natural-scene template of experiment {experiment.experiment_id} ({path}) "
                    f"differs from that of experiment {self.experiments[0].experiment_id}; the "
                    "scenes must be "
                    "identical across experiments: delete the odd file and fetch it again."
                )
            session = read_session(path, self.trace)
            if session.experiment_id not in (-1, experiment.experiment_id):
                raise DataError(
                    f"{path} holds experiment {session.experiment_id}, not the pinned "
                    f"{experiment.experiment_id}; put the right file there."
                )
            length = sweep_length(session.start, session.end)
            per_trial = trial_responses(session.traces, session.start, length, self.window, self.trace)
            blocks.append(repetitions(session.frame, per_trial, N_SCENES))
            n = session.cell_specimen_ids.shape[0]
            coords["region"] += [self.area] * n
            coords["experiment_id"] += [experiment.experiment_id] * n
            coords["container_id"] += [experiment.container_id] * n
            coords["cre_line"] += [experiment.cre_line] * n
            coords["imaging_depth"] += [experiment.imaging_depth] * n
            coords["cell_specimen_id"] += session.cell_specimen_ids.tolist()
        if reference is None:  # not reached: self.experiments is not empty
            raise DataError(f"{self.identifier} read no experiments.")
        size = max(b.shape[0] for b in blocks)
        padded = [np.concatenate([b, np.full((size - b.shape[0], *b.shape[1:]), np.nan)]) for b in blocks]
        values = np.concatenate(padded, axis=2)
        neuroid_ids = [f"{e}-{c}" for e, c in zip(coords["experiment_id"], coords["cell_specimen_id"], strict=True)]
        units = (
            "percent dF/F of neuropil-corrected fluorescence vs the 1 s baseline"
            if self.trace == "corrected"
            else "dF/F (DfOverF) minus its 1 s baseline mean"
        )
        assembly = make_assembly(
            values,
            stimulus_ids=stimulus_ids(),
            neuroid_ids=neuroid_ids,
            identifier=self.identifier,
            species="mouse",
            units=units,
            response_window_ms=WINDOW_MS[self.window],
            citation=CITATION,
            neuroid_coords={k: np.asarray(v) if k not in ("region", "cre_line") else v for k, v in coords.items()},
            stimulus_coords={"template_index": np.arange(N_SCENES)},
            attrs={
                "license": LICENSE,
                "window": self.window,
                "trace": self.trace,
                "experiments": ",".join(str(e.experiment_id) for e in self.experiments),
                "reader_version": READER_VERSION,
                "template_sha256": _array_hash(reference),
            },
        )
        _save_npy(reference, self._template_path())
        return assembly


def _array_hash(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.shape}{array.dtype}".encode() + array.tobytes()).hexdigest()


def _save_npy(array: np.ndarray, path: Path) -> None:
    """Write ``array`` atomically (temp file, its sha256 record, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_integrity.temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        cache_integrity.publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# The assembly plugin factory named in ``registry.toml``: the class itself.
load = AllenNaturalScenes
