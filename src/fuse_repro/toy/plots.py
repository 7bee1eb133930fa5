"""Figures of the toy ablation (seaborn/matplotlib): optimisation paths on contour plots,
f − f* against closure evaluations, and the ablation heat maps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from fuse_repro.toy.functions import DTYPE, TestFunction  # noqa: E402
from fuse_repro.toy.summary import GAP_FLOOR, variant_label  # noqa: E402


def _save(fig: plt.Figure, path: Path, bottom: float = 0.0) -> Path:
    """Write ``fig`` to ``path``, leaving ``bottom`` (a fraction of the height) for a
    figure legend."""
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _palette(variants: list[str]) -> dict[str, tuple]:
    return dict(zip(variants, sns.color_palette("tab10", len(variants))))


def _panels(count: int, width: float, height: float) -> tuple[plt.Figure, list[plt.Axes]]:
    columns = min(count, 4)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def contour_paths(
    trajectories: pd.DataFrame,
    functions: dict[str, TestFunction],
    variants: list[str],
    noise: float,
    start: int,
    path: Path,
) -> Path:
    """One panel per 2-D function: contours of log10(f − f*), the path of each variant
    from start ``start`` at noise ``noise`` (``trajectories``: per-step rows with function,
    variant, noise, start, step, phase, x0, x1), the start (circle), the global minimisers
    (stars) and, for FUSE-PV, the point where it switched to L-BFGS (diamond)."""
    sns.set_theme(style="white", context="paper")
    palette = _palette(variants)
    fig, axes = _panels(len(functions), 4.4, 4.0)
    for ax, (key, fn) in zip(axes, functions.items()):
        (low_x, low_y), (high_x, high_y) = (fn.domain[0].tolist(), fn.domain[1].tolist())
        gx, gy = np.meshgrid(np.linspace(low_x, high_x, 250), np.linspace(low_y, high_y, 250))
        grid = torch.tensor(np.stack([gx, gy], -1), dtype=DTYPE)
        levels = np.log10(np.maximum(fn.f(grid).numpy() - fn.minimum_value, GAP_FLOOR) + 1e-3)
        ax.contourf(gx, gy, levels, levels=30, cmap="Greys_r", alpha=0.8)
        ax.scatter(
            *fn.minimizers.T.numpy(), marker="*", s=140, color="gold", edgecolor="black", zorder=6
        )
        runs = trajectories[
            (trajectories["function"] == key)
            & (trajectories["noise"] == noise)
            & (trajectories["start"] == start)
        ]
        for variant in variants:
            run = runs[runs["variant"] == variant].sort_values("step")
            if run.empty:
                continue
            colour = palette[variant]
            ax.plot(run["x0"], run["x1"], "-", color=colour, lw=1.4, label=variant_label(variant))
            ax.scatter(run["x0"].iloc[-1], run["x1"].iloc[-1], s=25, color=colour, zorder=5)
            switched = run[(run["phase"] == "lbfgs") & (run["step"] > 0)]
            if variant.startswith("fuse_pv") and len(switched) and run["phase"].iloc[0] == "adam":
                at = run[run["step"] == switched["step"].iloc[0] - 1]
                ax.scatter(
                    at["x0"], at["x1"], marker="D", s=50, color=colour, edgecolor="black", zorder=7
                )
        first = runs.sort_values("step").groupby("variant").head(1)
        if len(first):
            ax.scatter(
                first["x0"].iloc[0],
                first["x1"].iloc[0],
                s=60,
                color="white",
                edgecolor="black",
                zorder=7,
            )
        ax.set_xlim(low_x, high_x)
        ax.set_ylim(low_y, high_y)
        ax.set_title(key)
    axes[0].legend(
        loc="lower left",
        fontsize=7,
        framealpha=0.9,
        title="◆ switch to L-BFGS, ★ global minimum",
        title_fontsize=7,
    )
    fig.suptitle(f"Paths from start {start}, gradient noise {noise:g}")
    return _save(fig, path)


def plot_gap_curves(curves: pd.DataFrame, noise: float, path: Path) -> Path:
    """One panel per function: median f − f* over starts against closure evaluations,
    with the quartile band, one line per variant (noise ``noise``)."""
    sns.set_theme(style="whitegrid", context="paper")
    curves = curves[curves["noise"] == noise]
    functions = list(dict.fromkeys(curves["function"]))
    variants = list(dict.fromkeys(curves["variant"]))
    palette = _palette(variants)
    fig, axes = _panels(len(functions), 4.4, 3.4)
    for ax, function in zip(axes, functions):
        for variant in variants:
            curve = curves[(curves["function"] == function) & (curves["variant"] == variant)]
            if curve.empty:
                continue
            colour = palette[variant]
            clip = {c: curve[c].clip(lower=GAP_FLOOR) for c in ("median", "q25", "q75")}
            ax.plot(curve["evals"], clip["median"], color=colour, label=variant_label(variant))
            ax.fill_between(curve["evals"], clip["q25"], clip["q75"], color=colour, alpha=0.12)
        ax.set_yscale("log")
        ax.set_title(function)
        ax.set_xlabel("closure evaluations")
        ax.set_ylabel("f − f*")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(len(labels), 6),
        fontsize=8,
        bbox_to_anchor=(0.5, 0.0),
    )
    fig.suptitle(
        f"f − f* against closure evaluations, gradient noise {noise:g}: "
        "median and quartiles over starts"
    )
    return _save(fig, path, bottom=0.12 / -(-len(functions) // 4))


def performance_profile(profiles: pd.DataFrame, noise: float, path: Path) -> Path:
    """The performance profiles of :func:`fuse_repro.toy.summary.performance_profiles` at
    gradient noise ``noise``: fraction of problems solved within a factor tau of the
    fewest evaluations, one step function per variant, tau on a log2 axis."""
    sns.set_theme(style="whitegrid", context="paper")
    profiles = profiles[profiles["noise"] == noise]
    variants = list(dict.fromkeys(profiles["variant"]))
    palette = _palette(variants)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    right = max(2.0, profiles["tau"].max() * 1.5)
    for variant in variants:
        steps = profiles[profiles["variant"] == variant]
        tau = list(steps["tau"]) + [right]
        fraction = list(steps["fraction"]) + [steps["fraction"].iloc[-1]]
        ax.step(tau, fraction, where="post", color=palette[variant], label=variant_label(variant))
    ax.set_xscale("log", base=2)
    ax.set_xlim(1.0, right)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("τ: within this factor of the fewest evaluations to the target")
    ax.set_ylabel("fraction of problems (function × start)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Performance profiles, gradient noise {noise:g}")
    return _save(fig, path)


def ablation_heatmaps(ablation: pd.DataFrame, function: str, path: Path) -> Path:
    """For ``function``, one row per swept setting: heat maps of log10 of the median
    final gap and of the success rate over (setting value x noise scale), on the reported
    starts."""
    sns.set_theme(style="white", context="paper")
    rows = ablation[(ablation["function"] == function) & (ablation["starts"] == "reported")]
    settings = list(dict.fromkeys(rows["setting"]))
    fig, axes = plt.subplots(len(settings), 2, figsize=(11, 2.6 * len(settings)), squeeze=False)
    for (gap_ax, success_ax), setting in zip(axes, settings):
        sweep = rows[rows["setting"] == setting].assign(
            log_gap=lambda f: np.log10(f["median_final_gap"].clip(lower=GAP_FLOOR))
        )
        for ax, column, cmap, label in (
            (gap_ax, "log_gap", "viridis", "log10 median final f − f*"),
            (success_ax, "success_rate", "rocket", "success rate"),
        ):
            table = sweep.pivot_table(index="noise", columns="value", values=column)
            table.columns = [f"{v:g}" for v in table.columns]
            sns.heatmap(
                table,
                ax=ax,
                annot=True,
                fmt=".1f" if column == "log_gap" else ".2f",
                cmap=cmap,
                cbar_kws={"label": label},
                vmin=0.0 if column == "success_rate" else None,
                vmax=1.0 if column == "success_rate" else None,
            )
            ax.set_xlabel(setting)
            ax.set_ylabel("gradient noise")
    fig.suptitle(f"{function}: ablations (each cell: all starts, at the evaluation budget)")
    return _save(fig, path)
