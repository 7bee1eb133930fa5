"""Learning-curve figures (seaborn): train loss and test accuracy against epochs,
closure evaluations and wall time, seed mean with a ±1 std band, switch points marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from fuse_repro.core.optimizers import LABELS  # noqa: E402
from fuse_repro.image.models import model_label  # noqa: E402
from fuse_repro.image.runs import whole_epochs  # noqa: E402
from fuse_repro.image.summary import switch_epochs  # noqa: E402

X_AXES = {"epoch": "epoch", "closure_evals": "closure evaluations", "wall_time": "wall time (s)"}
Y_AXES = {"train_loss": "train loss (full training set)", "test_accuracy": "test accuracy"}


def seed_band(log: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per optimizer and epoch: mean of ``x`` and mean/std of ``y`` over seeds (runs share
    epochs, not evaluation counts or times, so curves are aligned by whole epoch)."""
    band = (
        whole_epochs(log)
        .groupby(["optimizer", "epoch"], sort=False)
        .agg(x=(x, "mean"), y=(y, "mean"), y_std=(y, "std"))
        .reset_index()
    )
    band["y_std"] = band["y_std"].fillna(0.0)
    return band


def learning_curves(log: pd.DataFrame, model: str, title: str, path: Path) -> Path:
    """One figure per model: rows are train loss and test accuracy, columns are epoch,
    closure evaluations and wall time. Diamonds mark the first epoch after a switch."""
    runs = log[log["model"] == model]
    optimizers = list(dict.fromkeys(runs["optimizer"]))
    palette = dict(zip(optimizers, sns.color_palette("tab10", len(optimizers))))
    switches = switch_epochs(runs).groupby("optimizer")["switch_epoch"].median()
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(Y_AXES), len(X_AXES), figsize=(15, 8.5), squeeze=False)
    for row, (y, y_label) in enumerate(Y_AXES.items()):
        for col, (x, x_label) in enumerate(X_AXES.items()):
            ax = axes[row][col]
            band = seed_band(runs, x, y)
            for name in optimizers:
                curve = band[band["optimizer"] == name]
                colour = palette[name]
                ax.plot(curve["x"], curve["y"], color=colour, label=LABELS.get(name, name))
                ax.fill_between(
                    curve["x"],
                    curve["y"] - curve["y_std"],
                    curve["y"] + curve["y_std"],
                    color=colour,
                    alpha=0.15,
                )
                at = switches.get(name)
                if at is not None and pd.notna(at):
                    point = curve.iloc[(curve["epoch"] - at).abs().argmin()]
                    ax.scatter(
                        [point["x"]],
                        [point["y"]],
                        marker="D",
                        s=40,
                        color=colour,
                        edgecolor="black",
                        zorder=5,
                    )
            if y == "train_loss":
                ax.set_yscale("log")
            if x == "closure_evals":
                ax.set_xscale("symlog", linthresh=10)
                ax.set_xlim(left=0)
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
    axes[0][0].legend(
        loc="best", fontsize=8, title="◆ first epoch after the switch", title_fontsize=8
    )
    fig.suptitle(f"{title}: mean ± std over seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_figure(finals: pd.DataFrame, values: pd.DataFrame, title: str, path: Path) -> Path:
    """A sweep's sensitivity: per model (rows) and optimizer (columns), the final score of
    every run against the optimizer's learning rate (:func:`plotted_setting`): seeds as
    dots, their mean as a line and their range as a band, a log axis for values spanning
    more than a factor :data:`LOG_AXIS_SPAN`; optimizers run once as configured show as a
    horizontal line at their mean. ``finals``: one row per run with ``point`` and
    ``score``; ``values``: :func:`fuse_repro.image.sweeps.values_table`."""
    runs = finals.merge(values.drop(columns="optimizer"), on="point")
    models = list(dict.fromkeys(runs["model"]))
    swept = [o for o in dict.fromkeys(values["optimizer"]) if plotted_setting(values, o)]
    once = [o for o in dict.fromkeys(values["optimizer"]) if o not in swept]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(
        len(models),
        max(len(swept), 1),
        figsize=(4 * max(len(swept), 1), 3.2 * len(models)),
        squeeze=False,
    )
    for row, model in enumerate(models):
        for col, optimizer in enumerate(swept):
            ax, setting = axes[row][col], plotted_setting(values, optimizer)
            mine = runs[(runs["model"] == model) & (runs["optimizer"] == optimizer)]
            seeds = mine.groupby(setting)["score"].agg(["mean", "min", "max"])
            ax.fill_between(seeds.index, seeds["min"], seeds["max"], color="C0", alpha=0.2, lw=0)
            ax.plot(seeds.index, seeds["mean"], color="C0", label=LABELS[optimizer])
            sns.scatterplot(data=mine, x=setting, y="score", ax=ax, s=18, color="0.3")
            for i, other in enumerate(once):
                level = runs[(runs["model"] == model) & (runs["optimizer"] == other)]["score"]
                ax.axhline(level.mean(), color=f"C{i + 1}", ls="--", lw=1, label=LABELS[other])
            numeric = pd.to_numeric(mine[setting], errors="coerce")
            positive = numeric.notna().all() and numeric.min() > 0
            if positive and numeric.max() / numeric.min() > LOG_AXIS_SPAN:
                ax.set_xscale("log")
            ax.set_title(f"{model_label(model)}: {LABELS[optimizer]}")
            ax.set_ylabel(f"final {finals.attrs.get('scored_on', 'validation')} accuracy")
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


LOG_AXIS_SPAN = 50
"""A swept setting whose values span more than this factor is drawn on a log axis."""


def plotted_setting(values: pd.DataFrame, optimizer: str) -> str | None:
    """The setting ``optimizer``'s sensitivity is drawn against: its first swept learning
    rate (a path ending in ``lr``), else its first swept setting; None when it runs once
    as configured."""
    mine = values[values["optimizer"] == optimizer].dropna(axis=1, how="all")
    settings = [c for c in mine.columns if c not in ("point", "optimizer")]
    if not settings or len(mine) < 2:
        return None
    rates = [path for path in settings if path.split(".")[-1] == "lr"]
    return (rates or settings)[0]
