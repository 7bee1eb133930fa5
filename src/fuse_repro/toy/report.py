"""The toy ablation's section of the report: setup, comparison tables, findings stated
from the numbers, the verdict on the switch rules, and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse_repro.core.optimizers import FUSE_PV_RULES
from fuse_repro.core.paths import metrics_path, results_dir
from fuse_repro.report import Figure, Item, claims_table, missing_note, table
from fuse_repro.toy.claims import claim_rows
from fuse_repro.toy.settings import STUDIES
from fuse_repro.toy.summary import ranked, rule_verdict, variant_label

DETERMINISTIC = ("scipy", "fuse-theta=0", "lbfgs", "fuse_pv_epoch", "adam")


def notes(settings: dict[str, Any]) -> list[str]:
    """The setup that produced the section."""
    fp, lb = settings["fuse_pv"], settings["lbfgs"]
    functions = ", ".join(f"{s['name']} ({s['dim']}-D)" for s in settings["functions"])
    return [
        f"Setup (params.yaml, scale {settings['scale']}): {functions}; {settings['starts']} "
        f"random starts per function (seed {settings['seed']}, uniform in the function's usual "
        f"domain), the same starts and noise sequence for every optimizer (start i's noise "
        f"seeded with {settings['seed']} + i, so start 0's shares the starts' own generator "
        "seed and its noise reuses the draws that placed the starts: a dependence in one "
        "start per function, kept so that the runs of record stay valid); budget "
        f"{settings['budget']} closure evaluations (value and gradient) per run; target "
        f"f − f* ≤ {settings['target_gap']:g}; success: final point within "
        f"{settings['success_tol']:g} of a global minimiser. {noise_note(settings)}",
        f"Optimizers: SGD lr {settings['sgd']['lr']:g}; Adam lr {settings['adam']['lr']:g}; "
        f"L-BFGS (torch.optim.LBFGS and FUSE with θ = 0) with history {lb['history_size']}, "
        f"max_iter {lb['max_iter']}, max_eval {lb['max_eval']} per step, strong Wolfe; FUSE "
        f"with constant θ ∈ {settings['fuse']['thetas']}; FUSE-PV: Adam lr {fp['lr']:g}, then "
        f"L-BFGS, epoch rule after {fp['switch_epoch']} epochs of "
        f"{settings['steps_per_epoch']} steps, gradient rule below {fp['grad_threshold']:g}, "
        f"loss rule patience {fp['patience']} with min_delta {fp['min_delta']:g} on the "
        f"noise-free f, after {fp['warmup_epochs']} warm-up epochs; {reference_note(settings)} "
        "Learning rates are the same for every function (not tuned per function).",
        caveat(settings),
        selection_note(settings),
    ]


def has_reference(settings: dict[str, Any]) -> bool:
    """Whether the study runs scipy's L-BFGS-B, the deterministic reference (at noise 0
    only)."""
    return 0.0 in settings["noise_scales"] and "scipy" in settings["optimizers"]


def reference_note(settings: dict[str, Any]) -> str:
    """The deterministic reference, or that there is none."""
    lb, sp = settings["lbfgs"], settings["scipy"]
    if not has_reference(settings):
        return "no noise-free cells here, so no deterministic reference (the toy study has them)."
    return (
        f"scipy L-BFGS-B (maxcor {lb['history_size']}, ftol {sp['ftol']:g}, gtol "
        f"{sp['gtol']:g}) on the noise-free function as the deterministic reference."
    )


def noise_note(settings: dict[str, Any]) -> str:
    """What the noise scale σ means under the study's noise model."""
    model = settings["noise_model"]
    if model == "tilt":
        return (
            "Gradient noise: each step adds σ·z (z ~ N(0, I), fixed within the step, new at "
            "the next) to the gradient, so L-BFGS's curvature pairs see one function per "
            "step and its curvature is exact; σ = 0 is the deterministic problem."
        )
    return (
        f"Finite sums: f is the mean of {model['terms']} terms f_j = f + s_j·a·sin(w_j·x + "
        "b_j) in cancelling pairs (s_j = ±1, so the mean is exactly f), and each step "
        f"samples {model['batch']} of them without replacement, so the gradient and the "
        "curvature L-BFGS sees are both noisy; the frequencies w_j ~ N(0, ω²I) with ω = 2π·"
        f"{model['cycles']:g} / (the domain's mean side). σ is relative: the batch "
        "gradient's error has RMS σ·‖∇f(x₀)‖ at the run's start x₀ in expectation over the "
        "draw of the terms (one draw's, with 32 independent pairs, within about ±12 % of it), "
        "the same signal-to-noise at the start for every function (FiniteSumObjective in "
        "`src/fuse_repro/toy/functions.py`)."
    )


def caveat(settings: dict[str, Any]) -> str:
    """The limits of what the study compares."""
    common = (
        "Runs stop at the target, so gaps below it are not compared; a run whose x leaves the "
        "finite numbers counts as an infinite gap."
    )
    if settings["noise_model"] != "tilt":
        return common
    return (
        "Caveat of the noise model: the tilt σ·z·x makes one step's function unbounded below "
        "where f is bounded (Ackley) or flat along a line (Beale along y = 1); a line search "
        "can follow it far out (L-BFGS and FUSE-PV after the switch), a bounded Adam step "
        "cannot. " + common
    )


def selection_note(settings: dict[str, Any]) -> str:
    """On which starts the ablation chooses its settings."""
    if settings["ablation"]["selection_starts"]:
        n = settings["starts"]
        return (
            f"Selection: each ablated setting is chosen on {n} selection starts (starts "
            f"{n}–{2 * n - 1} of the same seeded stream) and reported on the {n} starts of "
            "the comparison, beside the best value there: the gap between the two is what "
            "choosing on the reported starts would have overstated."
        )
    return (
        "Selection: the ablation runs on the comparison's starts, so its best values are "
        "chosen on the starts they are reported on (optimistic); the finite-sum study "
        "chooses them on separate starts."
    )


def comparison_table(comparison: pd.DataFrame, noise: float) -> pd.DataFrame:
    """Optimizers x functions at one noise scale; each cell: the success rate, then, noise
    free, the median closure evaluations to the target (— when fewer than half the starts
    reached it) or, with noise, the median f − f* at the budget."""
    rows = comparison[comparison["noise"] == noise]
    if noise == 0.0:
        second = ["—" if pd.isna(e) else f"{e:.0f}" for e in rows["median_evals_to_target"]]
    else:
        second = [f"{g:.1e}" for g in rows["median_final_gap"]]
    cell = [f"{s:.0%} · {v}" for s, v in zip(rows["success_rate"], second)]
    wide = rows.assign(cell=cell).pivot(index="variant", columns="function", values="cell")
    wide = wide.reindex(
        index=list(dict.fromkeys(rows["variant"])), columns=list(dict.fromkeys(rows["function"]))
    )
    wide.index = [variant_label(v) for v in wide.index]
    return wide.rename_axis("optimizer").reset_index()


def rules_table(rules: pd.DataFrame) -> pd.DataFrame:
    """Per function and noise scale: each switch rule's success rate and median final gap,
    and the winner (or a tie)."""
    table = pd.DataFrame({"function": rules["function"], "noise": rules["noise"]})
    for rule in FUSE_PV_RULES:
        table[variant_label(rule)] = [
            f"{s:.0%} · {g:.1e}"
            for s, g in zip(rules[f"{rule}_success_rate"], rules[f"{rule}_median_final_gap"])
        ]
    table["best"] = [
        "tie" if tied else variant_label(w) for w, tied in zip(rules["winner"], rules["tied"])
    ]
    return table


CAPTIONS = {
    "paths": "Paths from start 0 on the 2-D functions (○ start, ◆ FUSE-PV's switch, "
    "★ global minima), gradient noise {}",
    "gap": "f − f* against closure evaluations, median and quartiles over starts, "
    "gradient noise {}",
    "ablation": "Ablation heat maps on {}: log10 median final f − f* and success rate, "
    "swept setting × gradient noise",
    "profile": "Performance profiles (Dolan & Moré 2002), gradient noise {}: the fraction of "
    "problems (function × start) each method brings to the target within τ times the fewest "
    "closure evaluations any method needed",
}


def caption(path: Path) -> str:
    """The caption of a figure written by the toy notebook, from its file name
    (``paths_noise1``, ``gap_noise0``, ``ablation_rosenbrock_2d``)."""
    kind, _, rest = path.stem.partition("_")
    return CAPTIONS[kind].format(rest.removeprefix("noise"))


def _median(rows: pd.DataFrame, variant: str, column: str) -> float:
    match = rows.loc[rows["variant"] == variant, column]
    return float(match.iloc[0]) if len(match) else np.nan


def deterministic_finding(comparison: pd.DataFrame) -> str:
    """Noise-free: median evaluations to the target of the deterministic reference and
    of our L-BFGS, torch's, FUSE-PV (epoch) and Adam, per function."""
    rows = comparison[comparison["noise"] == 0.0]
    present = [v for v in DETERMINISTIC if v in set(rows["variant"])]
    parts = []
    for function, cells in rows.groupby("function", sort=False):
        values = [
            "—" if np.isnan(e := _median(cells, v, "median_evals_to_target")) else f"{e:.0f}"
            for v in present
        ]
        parts.append(f"{function} {' / '.join(values)}")
    return (
        "Noise-free, median closure evaluations to the target ("
        + " / ".join(variant_label(v) for v in present)
        + "; — : fewer than half the "
        "starts reached it): " + "; ".join(parts) + "."
    )


def noisy_finding(comparison: pd.DataFrame, noise: float, target_gap: float) -> str:
    """At one noise scale: per function, the best optimizer by :func:`ranked`, with
    Adam's and FUSE-PV (epoch)'s numbers for comparison."""
    rows = comparison[comparison["noise"] == noise]
    parts = []
    for function, cells in rows.groupby("function", sort=False):
        best = ranked(cells, target_gap).iloc[0]
        parts.append(
            f"{function}: {variant_label(best.variant)} {_outcome(cells, best.variant)}"
            f" (Adam {_outcome(cells, 'adam')}; FUSE-PV (epoch) "
            f"{_outcome(cells, 'fuse_pv_epoch')})"
        )
    return (
        f"Gradient noise {noise:g}, best optimizer per function (success rate, median "
        "f − f* at the budget): " + "; ".join(parts) + "."
    )


def _outcome(cells: pd.DataFrame, variant: str) -> str:
    row = cells[cells["variant"] == variant]
    if row.empty:
        return "not run"
    return f"{row['success_rate'].iloc[0]:.0%}, {row['median_final_gap'].iloc[0]:.2g}"


def _value_outcome(row: Any) -> str:
    evals = (
        ""
        if pd.isna(row.median_evals_to_target)
        else f", {row.median_evals_to_target:.0f} evaluations to the target"
    )
    return (
        f"{row.value:g} ({row.success_rate:.0%} success, median f − f* "
        f"{row.median_final_gap:.2g}{evals})"
    )


def ablation_findings(ablation: pd.DataFrame, target_gap: float) -> list[str]:
    """Per ablation function and swept setting, at each noise scale: the best value on the
    reported starts by :func:`ranked`; with selection starts, first the value chosen
    there, with its result on the reported starts."""
    lines = []
    for (function, setting), rows in ablation.groupby(["function", "setting"], sort=False):
        parts = []
        for noise, cells in rows.groupby("noise"):
            reported = cells[cells["starts"] == "reported"]
            selection = cells[cells["starts"] == "selection"]
            found = []  # a partial grid (paper scale) may lack either set, or the chosen cell
            if len(selection):
                value = ranked(selection, target_gap).iloc[0].value
                chosen = reported[reported["value"] == value]
                outcome = (
                    _value_outcome(next(chosen.itertuples()))
                    if len(chosen)
                    else f"{value:g} (not yet run on the reported starts)"
                )
                found.append(f"chosen on the selection starts {outcome}")
            if len(reported):
                found.append(f"best {_value_outcome(ranked(reported, target_gap).iloc[0])}")
            parts.append(f"σ = {noise:g}: {', '.join(found)}")
        lines.append(f"{function}, {setting}: " + "; ".join(parts) + ".")
    return lines


HEADINGS = {
    "toy": "Toy ablation: test functions with known minima",
    "toy_finite_sum": "Toy ablation on finite sums: noisy curvature",
}
"""Each test-function study's section heading (the claims table links to it)."""
TABLES = ("summary", "comparison", "ablation", "rules")
"""The summaries (``results/<scale>/toy/<name>.csv``) the section reads."""


def section(settings: dict[str, Any], root: Path) -> list[Item]:
    """The toy study's report section from its results (``root``: the repository): setup,
    how much of the grid is stored, comparison tables, findings stated from the numbers,
    the verdict on the switch rules, the figures."""
    scale, experiment = settings["scale"], settings["experiment"]
    results = results_dir(root, scale, experiment)
    runs = json.loads(metrics_path(root, scale, experiment).read_text())["runs"]
    items: list[Item] = [f"## {HEADINGS[experiment]}", *notes(settings)]
    cells = "cells (function × variant × noise, all starts)"
    items += missing_note(runs, cells, experiment, scale)
    if not runs["stored"]:
        return items
    tables = {name: pd.read_csv(results / f"{name}.csv") for name in TABLES}
    comparison, target = tables["comparison"], settings["target_gap"]
    for noise in settings["noise_scales"]:
        noise_free_only = " (scipy runs noise-free only)" if has_reference(settings) else ""
        what = (
            "median closure evaluations to the target"
            if noise == 0.0
            else f"median f − f* at the budget{noise_free_only}"
        )
        items += [
            f"Gradient noise {noise:g}: success rate · {what}.",
            table(comparison_table(comparison, noise)),
        ]
    if 0.0 in settings["noise_scales"]:
        items.append(deterministic_finding(comparison))
    items += [
        noisy_finding(comparison, noise, target) for noise in settings["noise_scales"] if noise
    ]
    items += ablation_findings(tables["ablation"], target)
    items += [
        "FUSE-PV's switch rules per function and noise scale (success rate · median final f − f*):",
        table(rules_table(tables["rules"])),
        rule_verdict(tables["rules"]),
        "The paper's claims on these cells (sign test over the function × noise comparisons):",
        claims_table(claim_rows(comparison, target, STUDIES[experiment])),
    ]
    figures = sorted((results / "figures").glob("*.png"))
    return items + [Figure(path, caption(path)) for path in figures]
