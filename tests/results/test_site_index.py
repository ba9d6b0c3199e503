"""The static site's index: its species and region headers (no browser; tests/results/test_site_browser.py has one)."""

from __future__ import annotations

import json
import re

from brainbench.results.site import _index, region_under
from brainbench.results.table import build

from helpers import interval_fixtures as fx


def _run_of(species: str, benchmark: str, region: str, seed: int) -> dict:
    z, sigma, target = fx.population(seed, 40, 8)
    ds = fx.planted_dataset("m", fx.predictions(z, 8, seed, 0.3, 1.0), target, sigma, 4, benchmark, f"d{seed}", region)
    spec = json.loads(ds.attrs["spec"])
    spec["benchmark"]["species"] = species
    ds.attrs["spec"] = json.dumps(spec, sort_keys=True)
    return fx.run_row(ds)


def test_region_headers_do_not_repeat_the_species_above_them():
    runs = [_run_of("macaque", "b-v4", "V4", 0), _run_of("macaque", "b-it", "IT", 1), _run_of("human", "b-h", "IT", 2)]
    board = build(runs)
    assert sorted(board.regions) == ["human IT", "macaque IT", "macaque V4"]
    head = _index(board, "now", "test", "brainbench leaderboard site").split("</thead>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", head, flags=re.S)
    species, regions = (re.findall(r'class="group">([^<]*)</th>', row) for row in rows[:2])
    assert sorted(species) == ["human", "macaque"]
    assert sorted(regions) == ["IT", "IT", "V4"]  # not "macaque V4" under "macaque"
    assert "V4 mean" in rows[2] and "macaque V4 mean" not in rows[2]


def test_a_region_that_is_its_species_alone_is_kept():
    assert region_under("macaque", "macaque V4") == "V4"
    assert region_under("mouse", "mouse") == "mouse"
    assert region_under("unknown species", "V4") == "V4"
