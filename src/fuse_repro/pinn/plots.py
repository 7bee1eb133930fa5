"""Figures of the physics-informed study: the relative L2 error against closure
evaluations and against training seconds, one panel per problem, the median over seeds
as a line and the range over seeds as a band."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from fuse_repro.pinn.problems import PROBLEMS  # noqa: E402
from fuse_repro.pinn.summary import shown, variant_label  # noqa: E402

AXES = {"evals": "closure evaluations", "wall_time": "training seconds"}


def error_curves(
    curves: pd.DataFrame, runs: pd.DataFrame, x: str, steps_per_epoch: int, path: Path
) -> Path:
    """``curves`` (:func:`~fuse_repro.pinn.summary.on_grid` against ``x``) of the variants
    each problem's figure shows (:func:`~fuse_repro.pinn.summary.shown`, from ``runs``)."""
    sns.set_theme(style="whitegrid", context="paper")
    problems = list(dict.fromkeys(curves["problem"]))
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
