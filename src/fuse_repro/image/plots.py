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
from fuse_repro.image.summary import switch_epochs  # noqa: E402

X_AXES = {"epoch": "epoch", "closure_evals": "closure evaluations", "wall_time": "wall time (s)"}
Y_AXES = {"train_loss": "train loss (full training set)", "test_accuracy": "test accuracy"}


def seed_band(log: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per optimizer and epoch: mean of ``x`` and mean/std of ``y`` over seeds (runs share
    epochs, not evaluation counts or times, so curves are aligned by epoch)."""
    band = (
        log.groupby(["optimizer", "epoch"], sort=False)
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
