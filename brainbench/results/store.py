"""The results store: an embedded SQLite database of scored layers.

Location: ``--store PATH`` (or ``sqlite:///PATH``), else ``$BRAINBENCH_STORE``, else
``$BRAINBENCH_HOME/results.sqlite``. The per-neuroid score of each run is written as
netCDF to ``results/<content key>.nc`` beside the database (so the default is
``$BRAINBENCH_HOME/results/``) and named, with its sha256, in the run's row.

Tables (schema version 4, kept in ``PRAGMA user_version``):

``runs``: one row per scored (model, benchmark, benchmark version, readout
configuration, seed, weights, data), keyed by its **content key** -- the sha256 of
everything that determines the result (see :class:`brainbench.scoring.spec.RunSpec`) -- with the full
provenance: package versions, device, seed, data / stimuli / weights hashes, the metric
and ceiling formulas by name and version, the headline score, the results file, and
``protocol`` (``declared``, ``custom`` or ``unknown``, see
:mod:`brainbench.scoring.protocol`) with ``protocol_detail`` (JSON: what differs).
Only ``declared`` runs fill leaderboard cells.

``row_sha256`` (schema 4): a checksum of the run's row and its layer rows
(:func:`row_digest`). Every read (``runs``, ``lookup``, ``find_run``, ``rows``,
``layers_by_run``, ``has``) and ``brainbench cache verify`` check it, so a number changed
inside the database file (a flipped byte, an edit) is refused by name instead of shown;
the run is replaced by scoring it again.

``layer_scores``: one row per (run, layer): median r, median EV, median ceiled score
(medians over neuroids with a finite value), the neuroid count and whether the layer is
the run's headline (best) layer.

``scores``: a view joining the two, i.e. one row per (model, benchmark, benchmark
version, readout configuration, layer) with its provenance.

Concurrency and crashes: WAL journal, a busy timeout, and one ``BEGIN IMMEDIATE``
transaction per run; the netCDF is written atomically *before* the rows commit, so a
process killed at any point leaves either the whole run or none of it (at worst an
orphan results file that the next identical run overwrites).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from brainbench.caching.content import content_key
from brainbench.errors import BrainbenchError
from brainbench.scoring.protocol import CUSTOM, DECLARED, UNKNOWN, run_protocol

#: ``score_kind`` of rows stored before the version-2 headline (never shown in a cell).
LEGACY = "legacy"

T = TypeVar("T")

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


SCHEMA_VERSION = 4
STORE_ENV = "BRAINBENCH_STORE"


class StoreError(BrainbenchError):
    """A results store that cannot be opened, is newer than this brainbench, or lacks a row."""


class RowChecksumError(StoreError):
    """A run row (or its layer rows) that does not match its checksum: changed outside brainbench."""


# ---------------------------------------------------------------------------- schema
_SCHEMA_V1 = """
CREATE TABLE runs (
    content_key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    benchmark_version INTEGER NOT NULL,
    readout TEXT NOT NULL,
    solver TEXT NOT NULL,
    readout_params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    ceiling_formula TEXT NOT NULL,
    selection TEXT NOT NULL,
    seed INTEGER NOT NULL,
    device TEXT NOT NULL,
    brainbench_version TEXT NOT NULL,
    torch_version TEXT NOT NULL,
    numpy_version TEXT NOT NULL,
    xarray_version TEXT NOT NULL,
    python_version TEXT NOT NULL,
    data_sha256 TEXT NOT NULL,
    stimuli_sha256 TEXT NOT NULL,
    weights_sha256 TEXT NOT NULL,
    spec TEXT NOT NULL,
    best_layer TEXT NOT NULL,
    score REAL,
    median_ceiling REAL,
    results_file TEXT NOT NULL,
    timings TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE layer_scores (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_key TEXT NOT NULL REFERENCES runs(content_key) ON DELETE CASCADE,
    layer TEXT NOT NULL,
    is_best_layer INTEGER NOT NULL,
    median_r REAL,
    median_ev REAL,
    median_ceiled REAL,
    n_neuroids INTEGER NOT NULL,
    UNIQUE (content_key, layer)
);
CREATE INDEX runs_by_pair ON runs (model, benchmark, benchmark_version);
CREATE VIEW scores AS
    SELECT l.id AS row_id, l.layer, l.is_best_layer, l.median_r, l.median_ev, l.median_ceiled,
           l.n_neuroids, r.*
    FROM layer_scores AS l JOIN runs AS r USING (content_key);
"""


def _migrate_1_to_2(conn: sqlite3.Connection, root: Path) -> None:
    """v2 adds ``region`` (for per-region means) and ``results_sha256`` (tamper check).

    ``region`` is backfilled from what the store holds -- the stored spec's benchmark
    declaration, else the results file's ``region`` coordinate when it is unique -- never
    from the plugins installed now; ``results_sha256`` from the file as it is at
    migration time (NULL when the file is gone).
    """
    conn.execute("ALTER TABLE runs ADD COLUMN region TEXT")
    conn.execute("ALTER TABLE runs ADD COLUMN results_sha256 TEXT")
    # a view's `r.*` is expanded when created: rebuild it to include the new columns
    conn.execute("DROP VIEW scores")
    conn.execute(_SCORES_VIEW)
    for key, spec_text, results_file in conn.execute("SELECT content_key, spec, results_file FROM runs").fetchall():
        path = root / results_file
        try:
            region = (json.loads(spec_text).get("benchmark") or {}).get("region")
        except (TypeError, ValueError, AttributeError):
            region = None
        if not region and path.is_file():
            region = _region_from_file(path)
        digest = _file_sha256(path) if path.is_file() else None
        conn.execute(
            "UPDATE runs SET region = ?, results_sha256 = ? WHERE content_key = ?", (region or None, digest, key)
        )


_SCORES_VIEW = """
CREATE VIEW scores AS
    SELECT l.id AS row_id, l.layer, l.is_best_layer, l.median_r, l.median_ev, l.median_ceiled,
           l.n_neuroids, r.*
    FROM layer_scores AS l JOIN runs AS r USING (content_key)
"""


def _migrate_2_to_3(conn: sqlite3.Connection, root: Path) -> None:
    """v3 adds ``protocol`` and ``protocol_detail`` (which runs may fill a leaderboard cell).

    Old rows are judged from what they stored -- their spec (the model's declared
    layers, the benchmark's declared readout, the seed) and their layer rows -- with
    :func:`brainbench.scoring.protocol.run_protocol`, never from the plugins
    installed now (they may have changed since). A row whose spec cannot settle it is
    ``unknown`` and is listed but never shown in a cell.

    v3 also adds ``score_kind`` (``ceiled`` or ``uncorrected-r``, see
    :mod:`brainbench.metrics.ceiled`) and ``n_reliable``. Rows stored before brainbench
    0.2.0 carry the version-1 headline (``r^2 / ceiling`` of the pooled r): their kind is
    ``legacy``, and they are listed but never shown in a cell.
    """
    conn.execute(f"ALTER TABLE runs ADD COLUMN protocol TEXT NOT NULL DEFAULT '{UNKNOWN}'")
    conn.execute("ALTER TABLE runs ADD COLUMN protocol_detail TEXT NOT NULL DEFAULT '{}'")
    conn.execute(f"ALTER TABLE runs ADD COLUMN score_kind TEXT NOT NULL DEFAULT '{LEGACY}'")
    conn.execute("ALTER TABLE runs ADD COLUMN n_reliable INTEGER")
    conn.execute("DROP VIEW scores")
    conn.execute(_SCORES_VIEW)
    for key, spec_text in conn.execute("SELECT content_key, spec FROM runs").fetchall():
        try:
            spec = json.loads(spec_text)
        except (TypeError, ValueError):
            spec = {}
        layers = [
            r[0] for r in conn.execute("SELECT layer FROM layer_scores WHERE content_key = ? ORDER BY id", (key,))
        ]
        protocol, detail = run_protocol(spec if isinstance(spec, dict) else {}, layers)
        conn.execute(
            "UPDATE runs SET protocol = ?, protocol_detail = ? WHERE content_key = ?",
            (protocol, json.dumps(detail, sort_keys=True), key),
        )


def _migrate_3_to_4(conn: sqlite3.Connection, root: Path) -> None:
    """v4 adds ``row_sha256``, the checksum of each run's row and its layer rows.

    Old rows are checksummed as they are at migration time (like v2's results hashes):
    from then on a change to any of their values is detected.
    """
    conn.execute("ALTER TABLE runs ADD COLUMN row_sha256 TEXT")
    conn.execute("DROP VIEW scores")
    conn.execute(_SCORES_VIEW)
    for (key,) in conn.execute("SELECT content_key FROM runs").fetchall():
        _seal(conn, key)


def _seal(conn: sqlite3.Connection, key: str) -> None:
    """Set a run's ``row_sha256`` from its row and layer rows as the database holds them."""
    (run,) = _dict_rows(conn, "SELECT * FROM runs WHERE content_key = ?", (key,))
    layers = _dict_rows(conn, "SELECT * FROM layer_scores WHERE content_key = ?", (key,))
    conn.execute("UPDATE runs SET row_sha256 = ? WHERE content_key = ?", (row_digest(run, layers), key))


# MIGRATIONS[v] brings a database from version v to v + 1. A migration that adds or
# changes a column of runs or layer_scores must _seal every run again (the checksum
# covers every column).
MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}

#: Columns left out of :func:`row_digest`: the checksum itself and the layer rows' ids.
_UNHASHED = ("row_sha256", "id")


def _dict_rows(conn: sqlite3.Connection, query: str, args: tuple = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(query, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _canonical(value: Any) -> Any:
    """A value as the checksum sees it: numbers by their exact float64 bits (int 1 == REAL 1.0)."""
    if isinstance(value, bool | int | float):
        return float(value).hex()
    return value


def row_digest(run: dict[str, Any], layers: list[dict[str, Any]]) -> str:
    """sha256 of a run row and its layer rows, as stored (every column but the checksum and ids)."""
    from brainbench.caching.content import json_sha256

    def canonical(row: dict[str, Any]) -> dict[str, Any]:
        return {k: _canonical(v) for k, v in row.items() if k not in _UNHASHED}

    payload = {
        "run": canonical(run),
        "layers": sorted((canonical(layer) for layer in layers), key=lambda row: str(row.get("layer"))),
    }
    return json_sha256(payload)


def _region_from_file(path: Path) -> str | None:
    import xarray as xr

    with xr.open_dataset(path, engine="netcdf4") as ds:
        if "region" not in ds.coords:
            return None
        regions = {str(v) for v in ds["region"].values}
    return regions.pop() if len(regions) == 1 else None


def _file_sha256(path: Path) -> str:
    from brainbench.caching.integrity import file_sha256

    return file_sha256(path)


def check_results_file(path: Path, run: dict[str, Any]) -> str | None:
    """Why a run's results file cannot be used (missing, unreadable, changed), or None."""
    if not path.is_file():
        return "is missing"
    expected = run.get("results_sha256")
    if not expected:
        return None  # rows of schema 1 carried no hash
    try:
        actual = _file_sha256(path)
    except OSError:
        return "cannot be read"
    return None if actual == expected else "does not match the sha256 recorded in its run row"


# ---------------------------------------------------------------------------- location
def store_path(location: str | os.PathLike | None = None) -> Path:
    """The database file named by ``location``, ``$BRAINBENCH_STORE`` or the default.

    ``location`` may be a path or an SQLAlchemy-style ``sqlite:///relative`` /
    ``sqlite:////absolute`` URL; other URL schemes are refused.
    """
    from brainbench.data.fetch import home

    value = str(location) if location is not None else os.environ.get(STORE_ENV, "")
    if not value.strip():
        return home() / "results.sqlite"
    if "://" in value:
        scheme, _, rest = value.partition("://")
        if scheme != "sqlite":
            raise StoreError(f"results store {value!r} is not supported; give a file path or sqlite:///PATH.")
        value = rest[1:] if rest.startswith("/") else rest  # sqlite:///x -> x, sqlite:////x -> /x
        if not value:
            raise StoreError("sqlite:// needs a file path (sqlite:///results.sqlite); in-memory stores are not kept.")
    return Path(value).expanduser()


# ---------------------------------------------------------------------------- content key
def dataset_spec(dataset: xr.Dataset) -> tuple[dict[str, Any], str]:
    """``(spec, content key)`` a score dataset carries (see :mod:`brainbench.scoring.spec`).

    The scorer resolved the spec once; the store never rebuilds it from other attrs or
    the registry. A dataset without one (made by brainbench < 0.2), or whose key does not
    hash its spec (altered after scoring), is refused.
    """
    text, key = dataset.attrs.get("spec"), dataset.attrs.get("content_key")
    if not text or not key:
        raise StoreError(
            "this score dataset carries no run spec and key (it was made by brainbench < 0.2); "
            "score it again to store it."
        )
    spec = json.loads(text)
    if content_key(spec) != key:
        raise StoreError(
            f"this score dataset's content key {key[:12]} does not hash its run spec: it was altered "
            "after scoring; score it again to store it."
        )
    return spec, str(key)


def dataset_protocol(dataset: xr.Dataset) -> tuple[str, dict[str, Any]]:
    """The protocol a score dataset's attrs record (the scorer derived it from the run spec).

    A dataset without the attrs (an older scorer's) is ``unknown``: it is listed but never
    shown in a leaderboard cell.
    """
    claimed = dataset.attrs.get("protocol")
    if claimed not in (DECLARED, CUSTOM):
        return UNKNOWN, {"not_stored": ["the score dataset's protocol"]}
    return str(claimed), json.loads(dataset.attrs.get("protocol_detail", "{}"))


# ---------------------------------------------------------------------------- the store
def _finite_median(values: Any) -> float | None:
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


class ResultStore:
    """An SQLite results store (see the module docstring).

    Args:
        location: path or ``sqlite:///`` URL; default ``$BRAINBENCH_STORE`` or
            ``$BRAINBENCH_HOME/results.sqlite``.
        timeout_s: how long a writer waits for another writer's transaction.
    """

    def __init__(self, location: str | os.PathLike | None = None, timeout_s: float = 120.0) -> None:
        self.path = store_path(location)
        self.root = self.path.parent
        self.timeout_s = timeout_s
        self._migrated = False

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    # connection --------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An autocommit connection with WAL, a busy timeout and foreign keys, schema current."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open results store {self.path}: {error}; check the path.") from error
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._migrated:
                self._migrate(conn)
                self._migrated = True
            yield conn
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"results store {self.path} is unreadable ({error}); "
                "move it aside and re-run, or point --store elsewhere."
            ) from error
        finally:
            conn.close()

    def _retry(self, action: Callable[[], T], attempts: int = 50) -> T:
        # switching to WAL needs a moment with no other connection; the busy handler
        # does not always cover it, so retry briefly
        for attempt in range(attempts):
            try:
                return action()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (1 + attempt % 5))
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextlib.contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
        self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self.transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"results store {self.path} has schema version {version}, newer than this "
                    f"brainbench's {SCHEMA_VERSION}; upgrade brainbench or use another --store."
                )
            if version == 0:
                exists = conn.execute("SELECT name FROM sqlite_master WHERE name = 'runs'").fetchone()
                if exists:
                    raise StoreError(
                        f"{self.path} holds a 'runs' table but no schema version; "
                        "it is not a brainbench store: point --store elsewhere."
                    )
                # executescript would COMMIT our transaction: run the statements one by one
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                version = 1
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn, self.root)
                version += 1
            conn.execute(f"PRAGMA user_version = {version}")

    def check(self) -> None:
        """Refuse, before any work, a store that cannot be read or written (one-sentence :class:`StoreError`).

        An existing database is opened (and migrated) and checked with ``PRAGMA
        quick_check`` (a truncated or damaged file); for a new one, its folder must be
        writable. Stale temporary files of dead processes in ``results/`` are removed.
        """
        from brainbench.caching.integrity import clean_orphans
        from brainbench.scoring.arguments import writable_folder

        if self.path.exists():
            if not self.path.is_file():
                raise StoreError(f"results store {self.path} is not a file; point --store at a file path.")
            with self.connect() as conn:
                try:
                    verdict = [row[0] for row in conn.execute("PRAGMA quick_check")]
                except sqlite3.DatabaseError as error:
                    verdict = [str(error)]
            if verdict != ["ok"]:
                raise StoreError(
                    f"results store {self.path} is damaged ({verdict[0]}); move it aside and re-run, "
                    "or point --store elsewhere."
                )
        reason = writable_folder(self.results_dir, keep=True)
        if reason is not None:
            raise StoreError(
                f"results store folder {self.results_dir} cannot be written ({reason}); use another --store."
            )
        clean_orphans(self.results_dir)

    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # writing -----------------------------------------------------------------------
    def record(self, dataset: xr.Dataset) -> str:
        """Store a score dataset: its netCDF, then its run row and one row per layer.

        A run with the same content key is replaced (same inputs, same numbers).

        Returns:
            the run's content key.
        """
        from brainbench.caching.integrity import clean_orphans
        from brainbench.scoring import write_score

        spec, key = dataset_spec(dataset)
        clean_orphans(self.results_dir)  # temporaries of killed writers (their pid no longer runs)
        relative = f"results/{key}.nc"
        path = write_score(dataset, self.root / relative)  # atomic: temp file, then rename
        run = self._run_row(dataset, spec, key, relative, _file_sha256(path))
        layers = self._layer_rows(dataset, key)
        with self.connect() as conn, self.transaction(conn):
            conn.execute("DELETE FROM runs WHERE content_key = ?", (key,))
            columns = ", ".join(run)
            conn.execute(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(run))})", tuple(run.values()))
            for row in layers:
                self._insert_layer(conn, row)
            _seal(conn, key)  # checksum of the rows as stored, in the same transaction
        return key

    def _insert_layer(self, conn: sqlite3.Connection, row: dict[str, Any]) -> None:
        conn.execute(
            f"INSERT INTO layer_scores ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
        )

    @staticmethod
    def _run_row(dataset: xr.Dataset, spec: dict[str, Any], key: str, relative: str, digest: str) -> dict[str, Any]:
        from datetime import datetime, timezone

        attrs = dataset.attrs
        prov = json.loads(attrs["provenance"])
        region = (spec.get("benchmark") or {}).get("region") or None
        if region is None and "region" in dataset.coords:
            regions = {str(v) for v in dataset["region"].values}
            region = regions.pop() if len(regions) == 1 else None
        score = attrs.get("score")
        protocol, protocol_detail = dataset_protocol(dataset)
        return {
            "content_key": key,
            "model": attrs["model"],
            "benchmark": attrs["benchmark"],
            "benchmark_version": int(attrs["benchmark_version"]),
            "region": region,
            "readout": attrs["readout"],
            "solver": attrs.get("solver", ""),
            "readout_params": attrs.get("readout_params", "{}"),
            "metrics": attrs.get("metrics", "{}"),
            "ceiling_formula": attrs.get("ceiling_formula", "{}"),
            "selection": attrs.get("selection", "{}"),
            "seed": int(prov["seed"]),
            "device": str(prov.get("device", "")),
            "brainbench_version": prov.get("brainbench", ""),
            "torch_version": prov.get("torch", ""),
            "numpy_version": prov.get("numpy", ""),
            "xarray_version": prov.get("xarray", ""),
            "python_version": prov.get("python", ""),
            "data_sha256": prov.get("data_sha256", ""),
            "stimuli_sha256": prov.get("stimuli_sha256", ""),
            "weights_sha256": prov.get("weights", ""),
            "spec": json.dumps(spec, sort_keys=True, default=str),
            "best_layer": attrs["best_layer"],
            "score": None if score is None or score != score else float(score),
            "median_ceiling": _finite_median(dataset["ceiling"].values),
            "results_file": relative,
            "results_sha256": digest,
            "timings": attrs.get("timings", "{}"),
            "protocol": protocol,
            "protocol_detail": json.dumps(protocol_detail, sort_keys=True),
            "score_kind": str(attrs.get("score_kind", LEGACY)),
            "n_reliable": None if attrs.get("n_reliable") is None else int(attrs["n_reliable"]),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        }

    @staticmethod
    def _layer_rows(dataset: xr.Dataset, key: str) -> list[dict[str, Any]]:
        best = dataset.attrs["best_layer"]
        rows = []
        for layer in dataset["layer"].values:
            sel = dataset.sel(layer=layer)
            rows.append(
                {
                    "content_key": key,
                    "layer": str(layer),
                    "is_best_layer": int(str(layer) == best),
                    "median_r": _finite_median(sel["r"].values),
                    "median_ev": _finite_median(sel["ev"].values if "ev" in sel else []),
                    "median_ceiled": _finite_median(sel["ceiled"].values),
                    "n_neuroids": int(dataset.sizes["neuroid"]),
                }
            )
        return rows

    # checking ----------------------------------------------------------------------
    def row_problem(self, run: dict[str, Any], conn: sqlite3.Connection | None = None) -> str | None:
        """Why a run's row cannot be trusted (its checksum does not match), or None."""
        if conn is None:
            with self.connect() as own:
                return self.row_problem(run, own)
        layers = _dict_rows(conn, "SELECT * FROM layer_scores WHERE content_key = ?", (run["content_key"],))
        stored = run.get("row_sha256")
        if not stored:
            return "has no row checksum"
        if row_digest(run, layers) != stored:
            return "does not match its row checksum (the database was changed outside brainbench)"
        return None

    def _checked(self, conn: sqlite3.Connection, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``runs``, each row checked against its checksum; a bad one is a :class:`StoreError`."""
        for run in runs:
            reason = self.row_problem(run, conn)
            if reason is not None:
                raise RowChecksumError(self.bad_row_message(run, reason))
        return runs

    def bad_row_message(self, run: dict[str, Any], reason: str) -> str:
        return (
            f"run {str(run['content_key'])[:12]} ({run.get('model')} on {run.get('benchmark')}) in {self.path} "
            f"{reason}; score {run.get('model')} on {run.get('benchmark')} again to replace it."
        )

    def _runs_of(self, conn: sqlite3.Connection, keys: set[str]) -> list[dict[str, Any]]:
        out = []
        for key in sorted(keys):
            out += _dict_rows(conn, "SELECT * FROM runs WHERE content_key = ?", (key,))
        return out

    # reading -----------------------------------------------------------------------
    def has(self, key: str) -> bool:
        """Whether a complete, intact run with this content key is stored (its row and file)."""
        with self.connect() as conn:
            found = _dict_rows(conn, "SELECT * FROM runs WHERE content_key = ?", (key,))
            if not found or self.row_problem(found[0], conn) is not None:
                return False
        return check_results_file(self.root / found[0]["results_file"], found[0]) is None

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The run row of a full content key, or None; a row that fails its checksum is a :class:`StoreError`."""
        with self.connect() as conn:
            found = self._checked(conn, _dict_rows(conn, "SELECT * FROM runs WHERE content_key = ?", (key,)))
        return found[0] if found else None

    def runs(self, check: bool = True) -> list[dict[str, Any]]:
        """Every run row, oldest first (``check``: each against its checksum, see :meth:`row_problem`)."""
        with self.connect() as conn:
            found = _dict_rows(conn, "SELECT * FROM runs ORDER BY created_at, content_key")
            return self._checked(conn, found) if check else found

    def layers_by_run(self) -> dict[str, list[str]]:
        """Every run's scored layers, in their order, by content key."""
        out: dict[str, list[str]] = {}
        with self.connect() as conn:
            for row in conn.execute("SELECT content_key, layer FROM layer_scores ORDER BY id"):
                out.setdefault(row["content_key"], []).append(row["layer"])
            self._checked(conn, self._runs_of(conn, set(out)))
        return out

    def rows(self, content_key: str | None = None, check: bool = True) -> list[dict[str, Any]]:
        """Rows of the ``scores`` view (one per run and layer), optionally of one run (``check``: see :meth:`runs`)."""
        query = "SELECT * FROM scores"
        args: tuple = ()
        if content_key is not None:
            query += " WHERE content_key = ?"
            args = (content_key,)
        with self.connect() as conn:
            found = [dict(r) for r in conn.execute(query + " ORDER BY created_at, content_key, row_id", args)]
            if check:
                self._checked(conn, self._runs_of(conn, {row["content_key"] for row in found}))
        return found

    def find_run(self, ref: str, check: bool = True) -> dict[str, Any]:
        """A run by its content key (or a unique prefix of 6+ characters) or row id; ``check``: see :meth:`runs`."""
        with self.connect() as conn:
            if ref.isdigit():
                hit = conn.execute("SELECT content_key FROM layer_scores WHERE id = ?", (int(ref),)).fetchone()
                if hit is not None:
                    ref = hit["content_key"]
            if len(ref) < 6:
                raise StoreError(
                    f"no row {ref!r} in {self.path}; give a row id or a content key "
                    "(at least 6 characters) from `brainbench leaderboard show --format json`."
                )
            found = _dict_rows(conn, "SELECT * FROM runs WHERE content_key LIKE ?", (ref + "%",))
            if len(found) != 1:
                what = "no run" if not found else f"{len(found)} runs"
                raise StoreError(f"{what} in {self.path} match {ref!r}; give a row id or a longer content key.")
            return self._checked(conn, found)[0] if check else found[0]

    def load_results(self, run: dict[str, Any]) -> xr.Dataset:
        """The stored per-neuroid score dataset of a run (read fully into memory)."""
        import xarray as xr

        path = self.root / run["results_file"]
        reason = check_results_file(path, run)
        if reason is not None:
            raise StoreError(
                f"results file {path} of run {run['content_key'][:12]} {reason} and cannot be rebuilt from "
                f"the cache; score {run['model']} on {run['benchmark']} again to replace it."
            )
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()

    def reusable(self, key: str, warn: bool = True) -> xr.Dataset | None:
        """The intact stored score dataset of ``key``, to show instead of computing the run; else None.

        None when no run of ``key`` is stored, or when its row fails its checksum or its
        results file is missing, unreadable or changed: the caller then scores the run again,
        and recording it replaces the damaged one (``warn``: a one-line warning says so).
        One lookup, and the results file hashed once before it is read.
        """
        import xarray as xr

        from brainbench.caching.integrity import logger

        try:
            found = self.lookup(key)
        except RowChecksumError as error:  # a row changed outside brainbench: score it again, replacing it
            if warn:
                logger.warning(
                    "warning: %s", str(error).replace("again to replace it.", "again: scoring it again now.")
                )
            return None
        if found is None:
            return None
        path = self.root / found["results_file"]
        reason = check_results_file(path, found)
        if reason is not None:
            if warn:
                logger.warning("warning: results file %s of run %s %s; scoring it again.", path, key[:12], reason)
            return None
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()


@dataclass
class Recorder:
    """Where the runs one call computes are recorded: in ``store``, or nowhere without one.

    Attributes:
        store: the results store (None: record nothing).
        keep_unrecorded: a failure to record (a full disk) is kept in :attr:`error` (the
            first one) instead of raised, so that the caller shows the computed numbers first.
        error: that first failure, or None.
    """

    store: ResultStore | None
    keep_unrecorded: bool = False
    error: BrainbenchError | None = None

    def record(self, dataset: xr.Dataset) -> None:
        """Record ``dataset`` in the store (nothing without one)."""
        store: ResultStore | None = self.store
        if store is None:
            return
        try:
            store.record(dataset)
        except BrainbenchError as error:
            if not self.keep_unrecorded:
                raise
            self.error = self.error or error


def record(dataset: xr.Dataset, store: str | os.PathLike | ResultStore | None = None) -> str:
    """Record a score dataset in the results store (default location); return its content key.

    ``brainbench.score`` stores nothing: this records what it returned (docs/leaderboard.md).
    """
    target = store if isinstance(store, ResultStore) else ResultStore(store)
    return target.record(dataset)
