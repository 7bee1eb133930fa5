"""The physics-informed study's section of the report: setup, the table per problem, the
answers to its two questions stated from the numbers, and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from fuse_repro.core.paths import metrics_path, results_dir
from fuse_repro.core.statistics import BETTER, NO_DIFFERENCE, mean_and_interval
from fuse_repro.pinn.problems import PROBLEMS
from fuse_repro.pinn.summary import (
    AS_GOOD,
    BLEND,
    FAILED_ERROR,
    MARGIN,
    UNDECIDED,
    variant_label,
)
from fuse_repro.report import Figure, Item, missing_note, table

HEADING = "Beyond the paper: physics-informed networks"
FIGURES = {
    "switch_points.png": "relative L2 error at the budget against the switch point",
    "error_evals.png": "relative L2 error against closure evaluations",
    "error_time.png": "relative L2 error against training seconds",
}


def notes(settings: dict[str, Any]) -> list[str]:
    """The setup that produced the section."""
    fp, lb = settings["fuse_pv"], settings["lbfgs"]
    problems = "; ".join(PROBLEMS[name].label for name in settings["problems"])
    spe = settings["steps_per_epoch"]
    switches = ", ".join(str(k * spe) for k in settings["switch_epochs"])
    return [
        "Adam first and L-BFGS after is the standard way to train physics-informed networks "
        "(DeepXDE, PINNacle; Rathore et al., ICML 2024), with the switch picked by hand. Does "
        "one of FUSE-PV's rules find a switch as good as the best hand-picked one, and does a "
        "FUSE blend beat a hard switch? Problems and references: `src/fuse_repro/pinn/"
        "problems.py` (Burgers against its Cole–Hopf solution, whose steepest slope matches "
        "Basdevant et al. 1986's published 152.00516; the others exact).",
        f"Setup (params.yaml, scale {settings['scale']}): {problems}. A tanh network of "
        f"{settings['depth']} hidden layers × {settings['width']} units, Glorot-normal "
        f"initialisation; {settings['collocation']} interior collocation points and "
        f"{settings['condition_points']} per initial or boundary condition, fixed per seed "
        f"(seeds {settings['seeds']}: the same network and points for every optimizer); loss "
        "= mean squared PDE residual + each condition's mean squared residual; full batch, "
        f"float32. Budget {settings['budget']} closure evaluations (loss and gradient on all "
        "points) per run, every run scored at its last logged point within it by the relative "
        "L2 error on the problem's evaluation grid.",
        f"Optimizers: Adam lr {settings['adam']['lr']:g}; torch L-BFGS (history "
        f"{lb['history_size']}, {lb['max_iter']} iterations and at most {lb['max_eval']} "
        f"evaluations per step, strong Wolfe); Adam→L-BFGS switched by hand after {switches} "
        f"Adam steps (FUSE-PV's epoch rule, epochs of {spe} steps; FUSE's L-BFGS with history "
        f"{fp['history_size']}, `full_batch`, strong Wolfe); FUSE-PV's rules after "
        f"{fp['warmup_epochs']} warm-up epochs: gradient norm below {fp['grad_threshold']:g}, "
        f"below {fp['grad_ratio']:g} of its first epoch's (relative), loss without a "
        f"{fp['min_delta']:g} relative improvement for {fp['patience']} epochs; FUSE blending "
        f"θ·Adam + (1−θ)·L-BFGS at every step, θ ∈ {settings['thetas']}. Learning rates are "
        "the same for every problem (not tuned).",
        "Published errors are not comparable to these: no published setup matches this one. "
        "The closest, Raissi et al. (2019, Sec. 3.1.1), report a relative L2 error of "
        "6.7·10⁻⁴ on Burgers with a 9-layer network of 20 units per hidden layer, 10,000 "
        "collocation points, 100 initial and boundary points and L-BFGS run to convergence, "
        "where these runs stop at a fixed budget of evaluations.",
    ]


def questions_table(questions: pd.DataFrame, spe: int) -> pd.DataFrame:
    """Readable rows of ``questions.csv``."""
    return pd.DataFrame(
        {
            "problem": questions["problem"],
            "variant": [variant_label(k, spe) for k in questions["variant"]],
            "best hand switch": [variant_label(k, spe) for k in questions["reference"]],
            "−log10 error, variant − best switch": [
                _interval(row) for row in questions.itertuples()
            ],
            "as good": questions["as_good"],
        }
    )


def _interval(row: Any) -> str:
    text = mean_and_interval(row.difference, row.low, row.high, digits=2)
    return text if row.seeds < 2 else f"{text} ({row.seeds} seeds)"


def summary_for_display(summary: pd.DataFrame, spe: int) -> pd.DataFrame:
    """Readable columns of ``summary.csv``."""
    return pd.DataFrame(
        {
            "problem": summary["problem"],
            "variant": [variant_label(k, spe) for k in summary["variant"]],
            "seeds": summary["seeds"],
            "rel. L2 error (geo. mean; range)": [
                f"{g:.3g} ({lo:.3g}–{hi:.3g})"
                for g, lo, hi in zip(
                    summary["error_geomean"], summary["error_min"], summary["error_max"]
                )
            ],
            "loss (median)": summary["loss_median"].map("{:.3g}".format),
            "evals": summary["evals"].round(0).astype(int),
            "seconds": summary["wall_time_s"].round(1),
            "switched after (evals; seeds)": [
                "—" if n == 0 else f"{e:.0f} ({n}/{k})"
                for e, n, k in zip(
                    summary["switch_evals"], summary["seeds_switched"], summary["seeds"]
                )
            ],
        }
    )


def answers(questions: pd.DataFrame, spe: int) -> list[str]:
    """The two questions answered per problem from ``questions.csv``."""
    lines = []
    for problem, rows in questions.groupby("problem", sort=False):
        label = PROBLEMS[problem].label
        rules = rows[rows["variant"].str.startswith("fuse_pv_")]
        switched = rules[rules["seeds_switched"] > 0]
        good = switched[switched["as_good"] == AS_GOOD]
        open_ = switched[switched["as_good"] == UNDECIDED]
        idle = rules[rules["seeds_switched"] == 0]
        oracle = variant_label(rows["reference"].iloc[0], spe)
        rule_answer = (
            "no rule that switched is shown as good"
            if good.empty
            else "as good: "
            + ", ".join(
                variant_label(k, spe) + (" (better)" if o == BETTER else "")
                for k, o in zip(good["variant"], good["outcome"])
            )
        )
        if not open_.empty:
            rule_answer += "; undecided (the interval straddles the margin): " + ", ".join(
                variant_label(k, spe) for k in open_["variant"]
            )
        blend = rows[rows["variant"].str.startswith(BLEND)]
        if blend.empty:
            blend_answer = "no blend was run"
        else:
            row = blend.iloc[0]
            verdict = {BETTER: "beats", NO_DIFFERENCE: "ties with"}.get(row.outcome, "loses to")
            blend_answer = f"the best blend, {variant_label(row.variant, spe)}, {verdict} it"
        never = (
            ""
            if idle.empty
            else " ("
            + ", ".join(variant_label(k, spe) for k in idle["variant"])
            + " never switched: Adam throughout)"
        )
        error = rows["reference_error"].iloc[0]
        failed = (
            f" No method solves this problem (the best hand switch's error is {error:.2g}, at "
            f"least {FAILED_ERROR:g}): the comparison says nothing about where to switch."
            if error >= FAILED_ERROR
            else ""
        )
        lines.append(
            f"**{label}** (best hand switch: {oracle}): switch rules: {rule_answer}{never}; "
            f"{blend_answer}.{failed}"
        )
    return lines


def section(settings: dict[str, Any], root: Path) -> list[Item]:
    """The study's section from its results (``root``: the repository)."""
    scale = settings["scale"]
    results = results_dir(root, scale, "pinn")
    runs = json.loads(metrics_path(root, scale, "pinn").read_text())["runs"]
    items: list[Item] = [f"## {HEADING}", *notes(settings)]
    items += missing_note(runs, "runs (problem × variant × seed)", "pinn", scale)
    if not runs["stored"]:
        return items
    spe = settings["steps_per_epoch"]
    summary = pd.read_csv(results / "summary.csv")
    questions = pd.read_csv(results / "questions.csv")
    items += [
        "Each variant at the budget (relative L2 error over seeds; the switch point in "
        "evaluations spent in Adam):",
        table(summary_for_display(summary, spe)),
        "Against the best hand-picked switch of each problem (chosen on these seeds, so "
        "the differences are each variant's regret against an oracle): paired per-seed "
        "differences of −log10 error (positive: lower error than the best switch), mean and "
        "95 % t-interval; *as good* (non-inferior) when the whole interval lies above "
        f"−{MARGIN:g} decades (an error at most {10**MARGIN:.2f} times the best switch's), "
        "*no* when it lies below, *undecided* when it straddles that margin (too few seeds).",
        table(questions_table(questions, spe)),
        *answers(questions, spe),
    ]
    return items + [
        Figure(results / "figures" / name, f"Physics-informed networks: {caption}")
        for name, caption in FIGURES.items()
        if (results / "figures" / name).is_file()
    ]
