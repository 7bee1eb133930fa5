"""Figures of the physics-informed study, one panel per problem: the relative L2 error
against closure evaluations and against training seconds (the median over seeds as a line,
the range over seeds as a band), and the error at the budget against the switch point."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from fuse_repro.pinn.problems import PROBLEMS  # noqa: E402
from fuse_repro.pinn.summary import BLEND, HAND_SWITCH, best, shown, variant_label  # noqa: E402

AXES = {"evals": "closure evaluations", "wall_time": "training seconds"}


def error_curves(
    curves: pd.DataFrame, runs: pd.DataFrame, x: str, steps_per_epoch: int, path: Path
) -> Path:
    """``curves`` (:func:`~fuse_repro.pinn.summary.on_grid` against ``x``) of the variants
    each problem's figure shows (:func:`~fuse_repro.pinn.summary.shown`, from ``runs``)."""
    sns.set_theme(style="whitegrid", context="paper")
    problems = list(dict.fromkeys(runs["problem"]))  # the grid's order
    fig, axes = plt.subplots(1, len(problems), figsize=(4.6 * len(problems), 3.8), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        keys = shown(runs[runs["problem"] == problem])
        palette = dict(zip(keys, sns.color_palette("tab10", len(keys))))
        for key in keys:
            curve = curves[(curves["problem"] == problem) & (curves["variant"] == key)]
            color = palette[key]
            ax.plot(
                curve[x], curve["median"], color=color, label=variant_label(key, steps_per_epoch)
            )
            ax.fill_between(
                curve[x], curve["low"], curve["high"], color=color, alpha=0.15, linewidth=0
            )
        ax.set(
            yscale="log", xlabel=AXES[x], ylabel="relative L2 error", title=PROBLEMS[problem].label
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def switch_points(runs: pd.DataFrame, steps_per_epoch: int, path: Path) -> Path:
    """One panel per problem: the relative L2 error at the budget against the Adam steps
    before the switch to L-BFGS. The hand-picked switches as a line (geometric mean over
    seeds, the range as a band); each FUSE-PV rule as a marker at its median switch point
    (its seeds' range as a horizontal bar); Adam alone, L-BFGS alone and the best blend as
    horizontal lines (they have no switch point)."""
    sns.set_theme(style="whitegrid", context="paper")
    problems = list(dict.fromkeys(runs["problem"]))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.6 * len(problems), 3.8), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        by = runs[runs["problem"] == problem]
        stats = by.groupby("variant", sort=False).agg(
            error=("score", lambda s: 10 ** -s.mean()),
            low=("error", "min"),
            high=("error", "max"),
            switch=("switch_evals", "median"),
            first=("switch_evals", "min"),
            last=("switch_evals", "max"),
        )
        hand = stats[stats.index.str.startswith(HAND_SWITCH)].sort_values("switch")
        ax.plot(hand["switch"], hand["error"], "o-", color="black", label="Adam→L-BFGS by hand")
        ax.fill_between(hand["switch"], hand["low"], hand["high"], color="black", alpha=0.1)
        rules = stats[stats.index.str.startswith("fuse_pv_") & ~stats.index.isin(hand.index)]
        colors = sns.color_palette("tab10", len(rules) + 3)
        for color, (key, row) in zip(colors, rules.dropna(subset=["switch"]).iterrows()):
            ax.errorbar(
                row["switch"],
                row["error"],
                xerr=[[row["switch"] - row["first"]], [row["last"] - row["switch"]]],
                fmt="D",
                color=color,
                label=variant_label(key, steps_per_epoch),
            )
        references = [k for k in ("adam", "lbfgs", best(by, BLEND)) if k in stats.index]
        for color, key in zip(colors[len(rules) :], references):
            ax.axhline(
                stats.loc[key, "error"],
                color=color,
                ls="--",
                label=variant_label(key, steps_per_epoch),
            )
        ax.set(
            yscale="log",
            xlabel="Adam steps before the switch",
            ylabel="relative L2 error at the budget",
            title=PROBLEMS[problem].label,
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
