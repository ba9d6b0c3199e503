"""Validation, the 92-image set: does brainbench reproduce what the RSA literature reports on it?

Scores an ImageNet-trained network (``mobilenetv2-imagenet``), its untrained twin
(``mobilenetv2-untrained``), ``alexnet-untrained`` and the eight reference model RDMs of
Kriegeskorte et al. (2008) on ``kriegeskorte2008-monkeyIT``, ``-humanIT`` and
``-judgements``, and checks:

* the trained network above its untrained twin on human IT and on the judgements (and,
  uncorrected, on monkey IT);
* its late layers above its early layers on IT (human and monkey);
* deep networks against the HMAX and V1-model baselines on human IT, and below the noise
  ceiling (Khaligh-Razavi & Kriegeskorte 2014).

``benchmarks/validation.py`` runs this section with the V4 checks and writes both into
``docs/validation.md``; run alone, this script reruns only this section and replaces it in
the existing report (between the markers ``<!-- rsa92 -->`` and ``<!-- /rsa92 -->``) and
under ``rsa92`` in ``docs/validation.json``::

    BRAINBENCH_MIRROR=/path/to/mirror BRAINBENCH_OFFLINE=1 python benchmarks/validation_rsa92.py [--out docs]

About 3-6 minutes on 2 CPU cores (92 images; activations cached under ``BRAINBENCH_HOME``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NETWORKS = ["mobilenetv2-imagenet", "mobilenetv2-untrained", "alexnet-untrained"]
TRAINED, TWIN = "mobilenetv2-imagenet", "mobilenetv2-untrained"
REFERENCE = [
    "kriegeskorte2008-hmax",
    "kriegeskorte2008-v1",
    "kriegeskorte2008-eva",
    "kriegeskorte2008-silhouette",
    "kriegeskorte2008-radon",
    "kriegeskorte2008-animacy",
    "kriegeskorte2008-categories",
    "kriegeskorte2008-monkeyit",
]
BENCHMARKS = {
    "monkey IT": "kriegeskorte2008-monkeyIT",
    "human IT": "kriegeskorte2008-humanIT",
    "judgements": "kriegeskorte2008-judgements",
}
CITATIONS = {
    "kriegeskorte2008": "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., & "
    "Bandettini, P. A. (2008). Matching categorical object representations in inferior temporal cortex of man and "
    "monkey. Neuron 60, 1126-1141.",
    "khaligh2014": "Khaligh-Razavi, S.-M., & Kriegeskorte, N. (2014). Deep supervised, but not unsupervised, models "
    "may explain IT cortical representation. PLoS Comput. Biol. 10(11), e1003915.",
    "mur2013": "Mur, M., Meys, M., Bodurka, J., Goebel, R., Bandettini, P. A., & Kriegeskorte, N. (2013). Human "
    "object-similarity judgments reflect and transcend the primate-IT object representation. Front. Psychol. 4:128.",
    "jozwik2017": "Jozwik, K. M., Kriegeskorte, N., Storrs, K. R., & Mur, M. (2017). Deep convolutional neural "
    "networks outperform feature-based but not categorical models in explaining object similarity judgments. "
    "Front. Psychol. 8:1726.",
    "nili2014": "Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., & Kriegeskorte, N. (2014). A "
    "toolbox for representational similarity analysis. PLoS Comput. Biol. 10(4), e1003553.",
}
START, END = "<!-- rsa92 -->", "<!-- /rsa92 -->"


def _summary(model: str, benchmark: str) -> dict[str, Any]:
    """The score summary plus, per layer, the mean over sites of the test-pair similarity."""
    import brainbench
    from brainbench.scoring import summarize

    start = time.perf_counter()
    dataset = brainbench.score(model, benchmark, progress=False)
    summary = summarize(dataset)
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    summary["layer_r_test"] = {
        str(layer): float(dataset["r_split_mean"].sel(layer=layer).mean()) for layer in dataset.layer.values
    }
    # per site only its headline part, to keep the JSON small (per layer: `brainbench score --json`)
    summary["sites"] = {name: site["headline_r"] for name, site in summary.get("sites", {}).items()}
    return summary


def run() -> dict[str, dict[str, dict[str, Any]]]:
    """``model -> column -> summary`` for every applicable (model, benchmark) pair."""
    from brainbench.registry import get_registry
    from brainbench.results.grid import not_applicable

    registry = get_registry()
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for model in NETWORKS + REFERENCE:
        results[model] = {}
        for column, benchmark in BENCHMARKS.items():
            if not_applicable(registry, model, benchmark):
                continue  # the monkey IT RDM is the monkey IT data itself
            summary = _summary(model, benchmark)
            results[model][column] = summary
            print(
                f"{model:30s} {column:10s} {summary['score']:.3f} ({summary['score_kind']}) at "
                f"{summary['best_layer']} ({summary['wall_s']} s)",
                file=sys.stderr,
                flush=True,
            )
    return results


def tau_a_check() -> dict[str, dict[str, float]]:
    """Spearman against Kendall's tau-a on human IT, for a categorical and a continuous model RDM.

    Over all image pairs: each model RDM's mean similarity with the 4 subjects' RDMs, as a
    fraction of the lower bound of the noise ceiling computed with the same comparison.
    """
    import numpy as np

    from brainbench.assemblies import kriegeskorte2008 as k08
    from brainbench.data.fetch import fetch
    from brainbench.metrics.noise_ceiling import nili_bounds
    from brainbench.metrics.rsa import compare

    assembly = k08.load().load(progress=False).assembly
    subjects = assembly.isel(site=np.flatnonzero(assembly["group"].values == "human-IT")).values
    models = k08.reference_rdms(fetch(k08.MODELS, progress=False))
    out: dict[str, dict[str, float]] = {}
    for method in ("spearman", "tau-a"):
        lower = float(nili_bounds(subjects, method)[0].mean())
        out[method] = {"lower_bound": lower}
        for name in ("animacy", "HMAX"):
            out[method][name] = float(np.mean([compare(models[name], s, method) for s in subjects])) / lower
    return out


def _score(results: dict, model: str, column: str) -> float:
    return float(results[model][column]["score"])


def verdicts(results: dict, ties: dict[str, dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """Each literature claim on the 92-image set, the numbers that test it, and whether they agree.

    ``ties``: :func:`tau_a_check` (computed when not given).
    """
    out = []
    for column, cites in (
        ("human IT", ["khaligh2014"]),
        ("judgements", ["jozwik2017"]),
        ("monkey IT", ["khaligh2014"]),
    ):
        trained, twin = _score(results, TRAINED, column), _score(results, TWIN, column)
        kind = results[TRAINED][column]["score_kind"]
        out.append(
            {
                "claim": f"ImageNet-trained > its untrained twin on {column}",
                "citations": cites,
                "evidence": f"{TRAINED} {trained:.3f} vs {TWIN} {twin:.3f} ({kind}); alexnet-untrained "
                f"{_score(results, 'alexnet-untrained', column):.3f}",
                "reproduced": bool(trained > twin),
                "note": "",
            }
        )
    for column in ("human IT", "monkey IT"):
        curve = list(results[TRAINED][column]["layer_r_test"].items())
        early = sum(v for _, v in curve[:2]) / 2
        late = sum(v for _, v in curve[-2:]) / 2
        out.append(
            {
                "claim": f"late layers > early layers of the trained network on {column}",
                "citations": ["khaligh2014"],
                "evidence": f"mean test-pair rho of {curve[-2][0]}, {curve[-1][0]} {late:.3f} vs {curve[0][0]}, "
                f"{curve[1][0]} {early:.3f}; per layer: " + ", ".join(f"{k} {v:.3f}" for k, v in curve),
                "reproduced": bool(late > early),
                "note": "",
            }
        )
    column = "human IT"
    trained = _score(results, TRAINED, column)
    for baseline in ("kriegeskorte2008-hmax", "kriegeskorte2008-v1"):
        value = _score(results, baseline, column)
        others = {m: _score(results, m, column) for m in NETWORKS if m != TRAINED}
        out.append(
            {
                "claim": f"the trained deep network > the {baseline.split('-')[-1].upper()} baseline on human IT",
                "citations": ["khaligh2014"],
                "evidence": f"{TRAINED} {trained:.3f} vs {baseline} {value:.3f}; untrained: "
                + ", ".join(f"{m} {v:.3f}" for m, v in others.items()),
                "reproduced": bool(trained > value),
                "note": ""
                if all(v > value for v in others.values())
                else "an untrained network does not beat this baseline",
            }
        )
    bounds = results[TRAINED][column].get("noise_ceiling", {})
    out.append(
        {
            "claim": "no network reaches the noise ceiling's lower bound on human IT (score < 1)",
            "citations": ["khaligh2014", "nili2014"],
            "evidence": f"{TRAINED} {trained:.3f} of the lower bound {bounds.get('lower', float('nan')):.3f} "
            f"(upper {bounds.get('upper', float('nan')):.3f}); best reference RDM "
            + max(((m, _score(results, m, column)) for m in REFERENCE), key=lambda mv: mv[1])[0],
            "reproduced": bool(max(_score(results, m, column) for m in NETWORKS) < 1.0),
            "note": "a categorical model RDM does exceed it under Spearman: see the tau-a check"
            if max(_score(results, m, column) for m in REFERENCE) >= 1.0
            else "",
        }
    )
    ties = ties if ties is not None else tau_a_check()
    rho, tau = ties["spearman"], ties["tau-a"]
    drop_categorical = rho["animacy"] - tau["animacy"]
    drop_continuous = rho["HMAX"] - tau["HMAX"]
    out.append(
        {
            "claim": "Kendall's tau-a does not reward the ties of a categorical model RDM as Spearman does (human IT)",
            "citations": ["nili2014"],
            "evidence": f"fraction of the lower bound (all pairs, bound in the same comparison): animacy "
            f"{rho['animacy']:.3f} (Spearman) vs {tau['animacy']:.3f} (tau-a); HMAX {rho['HMAX']:.3f} vs "
            f"{tau['HMAX']:.3f}; lower bound {rho['lower_bound']:.3f} (Spearman), {tau['lower_bound']:.3f} (tau-a)",
            "reproduced": bool(drop_categorical > drop_continuous + 0.05),
            "note": "",
        }
    )
    return out


def markdown(results: dict, checks: list[dict[str, Any]], machine: dict[str, Any] | None = None) -> str:
    """This section of ``docs/validation.md``, between its markers."""
    columns = list(BENCHMARKS)
    when = (
        f" on {machine['date']} ({machine['cpus']} CPUs, brainbench commit {machine['brainbench_commit']})"
        if (machine)
        else ""
    )
    lines = [
        START,
        "## The 92-image set (Kriegeskorte et al. 2008): monkey IT, human IT, human judgements",
        "",
        f"Produced by `python benchmarks/validation.py` (or this section alone by `python "
        f"benchmarks/validation_rsa92.py`){when}. Headlines: Spearman's rho between each layer's RDM and the "
        "data's on the pairs of each split's 46 test images, at the layer chosen on its 46 training images; "
        "human IT and judgements as a fraction of the lower bound of the noise ceiling (Nili et al. 2014; both "
        "bounds below), monkey IT UNCORRECTED (a single RDM has no ceiling). Reference model RDMs are one "
        "'layer'; the monkey IT RDM is not scored against itself.",
        "",
        "| model | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for model, by_column in results.items():
        cells = []
        for column in columns:
            summary = by_column.get(column)
            if summary is None:
                cells.append("(the data itself)")
                continue
            layer = "" if summary["best_layer"] == "rdm" else f" ({summary['best_layer']})"
            cells.append(f"{summary['score']:.3f}{layer}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    ceilings = {c: results[TRAINED][c].get("noise_ceiling") for c in columns}
    lines += [""] + [
        f"- noise ceiling, {c}: lower {b['lower']:.3f} (leave one subject out), upper {b['upper']:.3f} "
        f"({b['n_subjects']} subjects, {b['method']})"
        for c, b in ceilings.items()
        if b
    ]
    lines += [
        "",
        "| claim | evidence | reproduced |",
        "| --- | --- | --- |",
    ]
    for check in checks:
        mark = "yes" if check["reproduced"] else "**no**"
        note = f" ({check['note']})" if check["note"] else ""
        cites = ", ".join(f"[{c}]" for c in check["citations"])
        lines.append(f"| {check['claim']} {cites} | {check['evidence']}{note} | {mark} |")
    lines += ["", "Disagreements are reported as they came out, not tuned away.", ""]
    lines += [f"- [{key}] {text}" for key, text in CITATIONS.items()]
    lines += ["", END, ""]
    return "\n".join(lines)


def replace_section(report: str, section: str) -> str:
    """``report`` with its 92-image section (between the markers) replaced by ``section``, or appended."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END) + "\n?", re.S)
    if pattern.search(report):
        return pattern.sub(lambda _: section, report)
    return report.rstrip("\n") + "\n\n" + section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder of validation.md and validation.json")
    args = parser.parse_args(argv)
    from validation_machine import machine as this_machine  # beside this script (sys.path[0] when it runs)

    start = time.perf_counter()
    results = run()
    checks = verdicts(results)
    machine = this_machine()
    report_path, json_path = args.out / "validation.md", args.out / "validation.json"
    report = report_path.read_text() if report_path.is_file() else "# Validation\n"
    report_path.write_text(replace_section(report, markdown(results, checks, machine)))
    numbers = json.loads(json_path.read_text()) if json_path.is_file() else {}
    numbers["rsa92"] = {
        "machine": machine,
        "elapsed_s": round(time.perf_counter() - start, 1),
        "verdicts": checks,
        "results": results,
    }
    json_path.write_text(json.dumps(numbers, indent=1, default=str))
    print(f"wrote the 92-image section of {report_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
