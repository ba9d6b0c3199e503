"""Pydantic schema of a brainbench manifest (a TOML file).

A manifest has a top-level ``schema_version`` (an integer, :data:`SCHEMA_VERSION`
today; a manifest without one is read as schema 1) and tables ``[models.ID]``,
``[assemblies.ID]``, ``[readouts.ID]``, ``[metrics.ID]``, ``[analyses.ID]`` and
``[benchmarks.ID]``. Code is named as
``"package.module:attribute"`` (``python_name``) and imported only when used. Nothing
here imports torch or any plugin code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from brainbench.errors import ManifestError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1
"""The manifest schema this brainbench reads; a manifest declaring a higher one is refused."""

KINDS = ("models", "assemblies", "readouts", "metrics", "analyses", "benchmarks")
SINGULAR = {
    "models": "model",
    "assemblies": "assembly",
    "readouts": "readout",
    "metrics": "metric",
    "analyses": "analysis",
    "benchmarks": "benchmark",
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
PYTHON_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def singular(kind: str) -> str:
    """``"analyses"`` -> ``"analysis"``, ``"assemblies"`` -> ``"assembly"``: one entry of a kind, in messages."""
    return SINGULAR.get(kind, kind)


class _Entry(BaseModel):
    """Fields every entry has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""
    source: str = ""
    description: str = ""
    citation: str = ""
    license: str = ""
    url: str = ""
    aliases: list[str] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)

    @field_validator("aliases")
    @classmethod
    def _check_aliases(cls, value: list[str]) -> list[str]:
        for alias in value:
            if not ID_PATTERN.match(alias):
                raise ValueError(f"alias {alias!r} is not a valid id")
        return value


def _check_python_name(value: str) -> str:
    if not PYTHON_NAME.match(value):
        raise ValueError(f'python_name {value!r} must look like "package.module:attribute"')
    return value


PythonName = Annotated[str, AfterValidator(_check_python_name)]


class Preprocessing(BaseModel):
    """How an image becomes a model input.

    ``placement``: ``resize`` stretches the whole image to ``size`` x ``size``;
    ``center-crop`` resizes the short side to ``size`` and crops the centre;
    ``pad`` fits the whole image inside the square on a gray canvas.
    ``canvas_fraction``: the image is first shrunk to this fraction of the input's width
    and centred on a gray canvas (a stimulus that spans fewer degrees of visual angle
    than the model's field of view); 1.0 means it fills the input.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(224, gt=0)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    placement: Literal["resize", "center-crop", "pad"] = "resize"
    canvas_fraction: float = Field(1.0, gt=0, le=1.0)
    background: float = Field(0.5, ge=0, le=1.0)

    def key(self) -> str:
        return self.model_dump_json()


class StimulusPlacement(BaseModel):
    """A benchmark's override of how its images are placed in the model's input.

    ``background``: the grey (0-1) of the canvas around a placed image (see
    :class:`Preprocessing`); left out of the dump while unset, so that benchmarks declared
    before it existed keep their content keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    placement: Literal["resize", "center-crop", "pad"] | None = None
    canvas_fraction: float | None = Field(None, gt=0, le=1.0)
    background: float | None = Field(None, ge=0, le=1.0)

    @model_serializer(mode="wrap")
    def _omit_unset_background(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("background") is None:
            data.pop("background", None)
        return data


#: How a transformer block's ``(B, T, D)`` tokens become features (:mod:`brainbench.models.tokens`).
TokenRule = Literal["cls", "mean", "flatten", "grid"]


class ModelEntry(_Entry):
    """A model: a network whose layers give activations, or a model that supplies an RDM.

    ``supplies = "rdm"``: the factory returns a :class:`brainbench.models.rdm.RDMModel`,
    one RDM over the stimuli of the assembly named by ``stimuli`` (one "layer"), scored
    only by representation benchmarks on that assembly; ``data_of`` names the benchmarks
    whose data the RDM is (it is never scored on them as a model).
    """

    python_name: PythonName
    #: numerics version of the model's construction, weights and preprocessing: bump it when
    #: a change to the factory moves any activation (it enters every result's key)
    version: int = Field(1, ge=1)
    layers: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    weights: str = ""
    supplies: Literal["activations", "rdm"] = "activations"
    stimuli: str = ""
    data_of: list[str] = Field(default_factory=list)
    #: the token rule of the model's transformer layers (None: their tokens are kept as they are)
    tokens: TokenRule | None = None

    #: Fields added after the first schema, left out of a run's key while they hold their
    #: default (:func:`brainbench.caching.content.declaration`), so no stored key changed.
    KEY_OMIT_DEFAULTS: ClassVar[tuple[str, ...]] = ("supplies", "stimuli", "data_of", "tokens")

    @model_validator(mode="after")
    def _rdm_fields(self) -> ModelEntry:
        if self.supplies == "rdm" and not self.stimuli:
            raise ValueError('a model with supplies = "rdm" must name (stimuli) the assembly whose stimuli it covers')
        if self.supplies == "activations" and (self.stimuli or self.data_of):
            raise ValueError('stimuli and data_of apply only to models with supplies = "rdm"')
        return self

    def factory_params(self) -> dict[str, Any]:
        """The keyword arguments :func:`brainbench.models.base.load_model` passes to the factory."""
        return dict(self.params)


class CheckpointEntry(_Entry):
    """A manifest's checkpoint file as a model: ``[models.ID] checkpoint = "PATH", arch = "ARCH"``.

    ``checkpoint`` is relative to the manifest's folder (or absolute); ``arch`` is the id of
    the architecture it was saved from (``torchvision/resnet18``, ``timm/<arch>``, a declared
    model). ``layers``, ``tokens`` and ``preprocessing`` default to the architecture's. The
    registry turns it into a :class:`ResolvedCheckpointEntry` when the model is used
    (:func:`brainbench.models.checkpoint.checkpoint_entry`), so listing stays cheap.
    """

    checkpoint: str = Field(min_length=1)
    arch: str = Field(min_length=1)
    layers: list[str] | None = None
    tokens: TokenRule | None = None
    preprocessing: Preprocessing | None = None


class ResolvedCheckpointEntry(ModelEntry):
    """A checkpoint model's full entry: the architecture's, with the file's path and sha256.

    The path is not part of a run's key (moving the file does not re-score it); the file's
    sha256 is (it is the model's weights hash), and so is the architecture (in ``params``).
    """

    checkpoint: str = ""
    KEY_EXCLUDE: ClassVar[tuple[str, ...]] = ("checkpoint",)

    def factory_params(self) -> dict[str, Any]:
        return {**self.params, "checkpoint": self.checkpoint}


class AssemblyEntry(_Entry):
    python_name: PythonName
    params: dict[str, Any] = Field(default_factory=dict)
    species: str = ""
    regions: list[str] = Field(default_factory=list)


class ReadoutEntry(_Entry):
    """A readout class, or a named configuration of another readout (``base``)."""

    python_name: PythonName | None = None
    base: str | None = None
    solver: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    #: numerics version: bump it when a change to the readout's code moves any number
    #: (it enters every result's key, so stored results are re-scored, never reused)
    version: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one_of(self) -> ReadoutEntry:
        if (self.python_name is None) == (self.base is None):
            raise ValueError("give exactly one of python_name (a readout class) or base (another readout id)")
        return self


class MetricEntry(_Entry):
    """A per-neuroid metric, a ceiling, or the ceiled headline.

    ``kind = "metric"``: ``fn(prediction (n, N), target (n, N)) -> (N,)``, stored in the
    score dataset as ``(layer, neuroid)`` variable ``variable`` (default: the id with
    ``-`` as ``_``). ``kind = "ceiling"``: ``fn(trials (repetition, stimulus, neuroid),
    seed=..., **params) -> (N,)``. ``kind = "ceiled"``: ``fn(r (..., N), ceiling (N,),
    **params) -> (..., N)``, the headline (see :mod:`brainbench.metrics.ceiled`).
    ``kind = "representation"``: a class built with ``params`` whose ``compare(model_rdm,
    neural_rdm, stimuli)`` and ``reliability(trials, seed)`` score and ceil a representation
    benchmark (see :class:`brainbench.metrics.rsa.RDMSimilarity`).
    """

    python_name: PythonName
    kind: Literal["metric", "ceiling", "ceiled", "representation"] = "metric"
    version: int = Field(1, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    variable: str = ""

    @property
    def variable_name(self) -> str:
        return self.variable or self.id.replace("-", "_")


class AnalysisEntry(_Entry):
    python_name: PythonName
    params: dict[str, Any] = Field(default_factory=dict)


class SplitSpec(BaseModel):
    """How stimuli are split into train and test.

    ``kfold``: ``n_splits`` folds, optionally stratified by a stimulus coordinate.
    ``holdout``: ``n_splits`` random train/test partitions with ``test_fraction`` held
    out (the paper's 85/15 protocol is ``test_fraction = 0.15``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kfold", "holdout"] = "kfold"
    n_splits: int = Field(10, ge=1)
    test_fraction: float = Field(0.15, gt=0, lt=1)
    stratify: str | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        if self.kind == "kfold" and self.n_splits < 2:
            raise ValueError("kfold needs n_splits >= 2")
        return self


class PartAggregate(BaseModel):
    """How a composite benchmark summarises its parts (see :mod:`brainbench.scoring.composite`).

    ``value``: the per-neuroid number aggregated: ``r`` (the uncorrected per-split r at each
    split's training-chosen layer, every part's ``headline_r``) or ``ceiled`` (its signed
    ceiled r^2, NaN below the reliability floor). ``part``: over a part's neuroids;
    ``group_by``: the neuroid coordinate that groups parts (``subject``: the animal);
    ``group``: over a group's parts; ``overall``: over the groups, the headline.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Literal["r", "ceiled"] = "r"
    part: Literal["median", "mean"] = "median"
    group_by: str = "subject"
    group: Literal["median", "mean"] = "mean"
    overall: Literal["median", "mean"] = "mean"


class BenchmarkEntry(_Entry):
    """A benchmark: data, protocol and metrics.

    ``kind = "regression"``: a readout fitted per split maps each layer onto every neuroid,
    scored by per-neuroid ``metrics`` and ceiled by ``ceiling``. ``kind = "representation"``:
    no readout; the one ``metrics`` entry (of kind ``representation``) compares each layer's
    representation with each site's directly (see :mod:`brainbench.scoring.kinds`).
    ``kind = "composite"``: benchmarks scored one after another and summarised by
    ``aggregate``: either the registered benchmarks named in ``parts``, or one part per
    value of the ``assembly``'s ``part_param`` (part ids ``<id>.<value>``, each this entry
    with ``assembly_params = {part_param: value}``); see :mod:`brainbench.scoring.composite`.
    """

    kind: Literal["regression", "representation", "composite"] = "regression"
    version: int = Field(ge=1)
    assembly: str = ""
    #: overrides of the assembly entry's params (e.g. one session of a multi-session assembly)
    assembly_params: dict[str, Any] = Field(default_factory=dict)
    parts: list[str] = Field(default_factory=list)
    part_param: str = ""
    aggregate: PartAggregate | None = None
    readout: str = "simple"
    metrics: list[str] = Field(default_factory=lambda: ["pearson-r", "explained-variance"])
    ceiling: str | None = "split-half"
    headline: str = "ceiled-r2"
    split: SplitSpec = Field(default_factory=SplitSpec)
    selection: dict[str, Any] = Field(default_factory=dict)
    reliability_threshold: float | None = None
    stimulus_placement: StimulusPlacement = Field(default_factory=StimulusPlacement)
    region: str = ""
    #: the species recorded (``macaque``, ``human``, ``mouse``); empty: the assembly's
    #: ``species`` (see :meth:`brainbench.registry.registry.Registry.benchmark_species`)
    species: str = ""
    site_aggregate: Literal["median", "mean"] = "median"
    #: What a leaderboard interval resamples (:mod:`brainbench.results.intervals`); empty:
    #: the kind's default (stimuli and neuroids for regression, stimuli for representation).
    #: Not in a run's key: it changes no score, only its interval.
    resample: list[Literal["stimulus", "neuroid"]] = Field(default_factory=list)

    #: Fields added after the first schema whose *default* is left out of the declaration
    #: a run's key hashes (:func:`brainbench.caching.content.declaration`), so that adding them did
    #: not change the key of any run stored before; a non-default value is hashed.
    KEY_OMIT_DEFAULTS: ClassVar[tuple[str, ...]] = (
        "site_aggregate",
        "assembly_params",
        "parts",
        "part_param",
        "aggregate",
    )
    #: Descriptive fields that never enter a run's key, whatever their value: declaring
    #: them on a benchmark changes no number, so it must not change a stored key.
    KEY_DESCRIPTIVE: ClassVar[tuple[str, ...]] = ("species",)

    @model_validator(mode="after")
    def _check_kind(self) -> BenchmarkEntry:
        if self.kind != "composite":
            if not self.assembly:
                raise ValueError(f"a {self.kind} benchmark needs an assembly")
            if self.parts or self.part_param or self.aggregate is not None:
                raise ValueError("parts, part_param and aggregate belong to composite benchmarks only")
            return self
        if bool(self.parts) == bool(self.part_param):
            raise ValueError("a composite benchmark gives either parts (benchmark ids) or part_param (with assembly)")
        if self.part_param and not self.assembly:
            raise ValueError("part_param needs the assembly whose parameter it varies")
        if self.parts and self.assembly:
            raise ValueError("a composite benchmark with explicit parts has no assembly of its own")
        if self.aggregate is None:
            raise ValueError("a composite benchmark must declare its aggregate")
        return self


ENTRY_TYPES: dict[str, type[_Entry]] = {
    "models": ModelEntry,
    "assemblies": AssemblyEntry,
    "readouts": ReadoutEntry,
    "metrics": MetricEntry,
    "analyses": AnalysisEntry,
    "benchmarks": BenchmarkEntry,
}


class Manifest(BaseModel):
    """One parsed manifest: entries of every kind, keyed by id."""

    model_config = ConfigDict(extra="forbid")

    source: str
    entries: dict[str, dict[str, _Entry]]
    schema_version: int | None = None  # as declared; None (not declared) is read as schema 1


def parse_manifest(text: str, source: str, problems: list[str] | None = None) -> Manifest:
    """Parse and validate manifest TOML; errors name ``source``, the key and the problem.

    Without ``problems`` the first problem raises :class:`ManifestError`. With a list,
    every problem (each malformed entry, each bad field) is appended to it and the
    manifest of the entries that are well formed is returned (``plugin check`` reports all).
    """
    found: list[str] = []

    def report(message: str) -> None:
        if problems is None:
            raise ManifestError(message)
        found.append(message)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        report(f"{source}: not valid TOML ({error}).")
        data = {}
    schema_version = _schema_version(data.pop("schema_version", None), source, report)
    for table in sorted(set(data) - set(KINDS)):
        report(f"{source}: unknown table [{table}]; a manifest has tables {', '.join(KINDS)}.")
    entries: dict[str, dict[str, _Entry]] = {}
    for kind in KINDS:
        table = data.get(kind, {})
        entries[kind] = {}
        if not isinstance(table, dict):
            report(f"{source}: [{kind}] must be a table of entries.")
            continue
        for entry_id, body in table.items():
            key = f"{kind}.{entry_id}"
            if not ID_PATTERN.match(entry_id):
                report(f"{source}: key {key!r}: {entry_id!r} is not a valid id.")
                continue
            if not isinstance(body, dict):
                report(f"{source}: key {key!r} must be a table.")
                continue
            try:
                entry_type = CheckpointEntry if kind == "models" and "checkpoint" in body else ENTRY_TYPES[kind]
                entry = entry_type.model_validate({**body, "id": entry_id, "source": source})
            except ValidationError as error:
                for problem in error.errors():
                    where = ".".join(str(p) for p in problem["loc"])
                    field = f"{key}.{where}" if where else key
                    report(f"{source}: key {field!r}: {problem['msg']}.")
                continue
            entries[kind][entry_id] = entry
    if problems is not None:
        problems.extend(found)
    return Manifest(source=source, entries=entries, schema_version=schema_version)


def _schema_version(value: Any, source: str, report: Any) -> int | None:
    """The declared ``schema_version`` (``None`` when absent); one newer than :data:`SCHEMA_VERSION` raises.

    A newer schema always raises, even when collecting problems: its entries cannot be
    read by this version's rules, so no entry of it is checked.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        report(
            f"{source}: key 'schema_version': must be a positive integer (the current schema is "
            f"{SCHEMA_VERSION}), not {value!r}."
        )
        return None
    if value > SCHEMA_VERSION:
        raise ManifestError(
            f"{source}: key 'schema_version': the manifest uses schema {value}, but this brainbench reads "
            f"schema {SCHEMA_VERSION} at most; upgrade brainbench to use it."
        )
    return value


def read_manifest(path: str | Path, problems: list[str] | None = None) -> Manifest:
    """Read a manifest file (see :func:`parse_manifest` for ``problems``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read manifest {path}: {error.strerror}.") from error
    return parse_manifest(text, str(path), problems)
