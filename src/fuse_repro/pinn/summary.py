"""Summaries of the physics-informed study's log (:mod:`fuse_repro.pinn.runs`): each run's
score at the budget, the per-variant table, the answers to the study's two questions, the
curves on common grids, and the metrics JSON.

Every run gets the same budget of closure evaluations and is scored at its last logged
point within it (a run that converged or diverged earlier is scored where it stopped: it
would not have moved). Errors span orders of magnitude, so runs are compared by
:math:`-\\log_{10}` of the relative L2 error (larger is better), paired per seed (same
network and points, :mod:`fuse_repro.core.statistics`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse_repro.core.optimizers import LABELS
from fuse_repro.core.statistics import paired
from fuse_repro.pinn.runs import variants

RUN = ["problem", "variant", "seed"]
HAND_SWITCH = "fuse_pv_epoch-switch_epoch="
BLEND = "fuse-theta="
MARGIN = 0.1
"""The non-inferiority margin, in decades of error: a variant is *as good* as the best hand
switch when its whole 95 % interval of the paired difference of −log10 error lies above
``-MARGIN`` (an error at most :math:`10^{0.1} \\approx 1.26` times the switch's), *worse*
when the whole interval lies below it, and *undecided* (too few seeds to tell) otherwise."""
AS_GOOD, WORSE_THAN, UNDECIDED = "yes", "no", "undecided"
FAILED_ERROR = 0.5
"""A relative L2 error at or above which a problem counts as not solved: the answers say
that a comparison of switch points where even the best one fails says nothing."""


def variant_label(key: str, steps_per_epoch: int) -> str:
    """``fuse_pv_epoch-switch_epoch=5`` -> ``Adam→L-BFGS at step 500`` (with 100 steps an
    epoch), ``fuse-theta=0.5`` -> ``FUSE θ=0.5``, a registry name -> its label."""
    if key.startswith(HAND_SWITCH):
        return f"Adam→L-BFGS at step {int(key.removeprefix(HAND_SWITCH)) * steps_per_epoch}"
    if key.startswith(BLEND):
        return f"FUSE θ={key.removeprefix(BLEND)}"
    return LABELS.get(key, key)


def scores(log: pd.DataFrame, budget: int) -> pd.DataFrame:
    """One row per run (in the order of ``log``, whose rows of a run are in logged order):
    its last logged row within ``budget`` evaluations, with ``score`` :math:`=
    -\\log_{10}(\\text{error})` and ``switch_evals``: the evaluations spent in Adam before a
    switch to L-BFGS (an Adam step costs one; NaN without a switch)."""
    within = log[log["evals"] <= budget]
    final = within.groupby(RUN, sort=False).tail(1)
    switched = log.groupby(RUN, sort=False)["switch_step"].max().rename("switch_evals")
    final = final.drop(columns="switch_step").merge(switched.reset_index(), on=RUN)
    return final.assign(score=-np.log10(final["error"])).reset_index(drop=True)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per problem and variant: seeds, the relative L2 error at the budget (geometric
    mean over seeds and the range), the loss (median), evaluations and seconds used (mean),
    the seeds that switched and their median switch point in evaluations."""
    return (
        runs.groupby(["problem", "variant"], sort=False)
        .agg(
            seeds=("seed", "nunique"),
            error_geomean=("score", lambda s: 10 ** -s.mean()),
            error_min=("error", "min"),
            error_max=("error", "max"),
            loss_median=("loss", "median"),
            evals=("evals", "mean"),
            wall_time_s=("wall_time", "mean"),
            seeds_switched=("switch_evals", "count"),
            switch_evals=("switch_evals", "median"),
        )
        .reset_index()
    )


def shown(runs: pd.DataFrame) -> list[str]:
    """The variants of one problem's runs that its figures draw: all but the hand switches
    and blends, plus the best hand switch and the best blend."""
    keys = [k for k in dict.fromkeys(runs["variant"]) if not k.startswith((HAND_SWITCH, BLEND))]
    return keys + [k for k in (best(runs, HAND_SWITCH), best(runs, BLEND)) if k is not None]


def best(runs: pd.DataFrame, prefix: str) -> str | None:
    """The variant starting with ``prefix`` with the highest mean score, None if none."""
    candidates = runs[runs["variant"].str.startswith(prefix)]
    if candidates.empty:
        return None
    return candidates.groupby("variant")["score"].mean().idxmax()


def questions(runs: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """Per problem, each switch rule, the best blend, Adam and L-BFGS against the best
    hand-picked switch (chosen on these seeds: an oracle, so the comparison measures the
    rule's regret): the paired per-seed difference of scores (positive: lower error than
    the oracle switch), its interval, whether the variant is as good (:data:`MARGIN`), how
    many seeds switched (a rule that never does is Adam), and the best switch's error (the
    geometric mean over seeds)."""
    rows = []
    keys = [v.key for v in variants(settings)]
    for problem, by_problem in runs.groupby("problem", sort=False):
        oracle = best(by_problem, HAND_SWITCH)
        if oracle is None:
            continue
        per_seed = by_problem.pivot(index="seed", columns="variant", values="score")
        switched = by_problem.groupby("variant")["switch_evals"].count()
        blend = best(by_problem, BLEND)
        others = [k for k in keys if not k.startswith((HAND_SWITCH, BLEND))] + [blend]
        for key in (k for k in others if k in per_seed):
            comparison = paired(per_seed[key], per_seed[oracle])
            rows.append(
                {
                    "problem": problem,
                    "variant": key,
                    "reference": oracle,
                    "difference": comparison.mean,
                    "low": comparison.low,
                    "high": comparison.high,
                    "seeds": len(comparison.differences),
                    "seeds_switched": int(switched[key]),
                    "outcome": comparison.outcome,
                    "as_good": non_inferior(comparison.low, comparison.high),
                    "reference_error": 10 ** -per_seed[oracle].mean(),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "problem",
            "variant",
            "reference",
            "difference",
            "low",
            "high",
            "seeds",
            "seeds_switched",
            "outcome",
            "as_good",
            "reference_error",
        ],
    )


def non_inferior(low: float, high: float) -> str:
    """:data:`AS_GOOD`, :data:`WORSE_THAN` or :data:`UNDECIDED` for the interval
    ``[low, high]`` of a difference of −log10 error against :data:`MARGIN` (undecided
    without an interval: one seed)."""
    if low >= -MARGIN:
        return AS_GOOD
    if high < -MARGIN:
        return WORSE_THAN
    return UNDECIDED


def on_grid(log: pd.DataFrame, x: str, points: np.ndarray) -> pd.DataFrame:
    """Each run's error as a step function of ``x`` (``evals`` or ``wall_time``: the last
    logged error at or before each of ``points``; NaN before its first row), then per
    problem, variant and point the median, minimum and maximum over seeds."""
    frames = []
    for (problem, variant, seed), run in log.sort_values(x).groupby(RUN, sort=False):
        index = np.searchsorted(run[x].to_numpy(), points, side="right") - 1
        error = np.where(index >= 0, run["error"].to_numpy()[np.maximum(index, 0)], np.nan)
        frames.append(
            pd.DataFrame(
                {"problem": problem, "variant": variant, "seed": seed, x: points, "error": error}
            )
        )
    curves = pd.concat(frames, ignore_index=True)
    return (
        curves.groupby(["problem", "variant", x], sort=False)["error"]
        .agg(median="median", low="min", high="max")
        .reset_index()
    )


DERIVED = (
    "grid.csv",
    "log.csv",
    "runs.csv",
    "summary.csv",
    "questions.csv",
    "curves_evals.csv",
    "curves_time.csv",
    "figures",
)
"""What :func:`write_summaries` derives (everything in the results folder but ``runs/``)."""


def write_summaries(
    log: pd.DataFrame,
    settings: dict[str, Any],
    out_dir: Path,
    metrics_path: Path,
    grid: list[tuple[str, str, int]],
) -> dict[str, pd.DataFrame]:
    """Under ``out_dir``: ``grid.csv`` (every run, stored or not), ``log.csv``,
    ``runs.csv`` (:func:`scores`), ``summary.csv``, ``questions.csv`` and the curves
    against evaluations and against seconds (:func:`on_grid`); the metrics JSON, with
    ``runs``: how many of the grid's runs are stored and their training seconds (summed
    over the runs; scoring excluded). Derived files are removed first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DERIVED:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    table = pd.DataFrame(grid, columns=RUN)
    held = set(log[RUN].drop_duplicates().itertuples(index=False, name=None))
    table["stored"] = [run in held for run in grid]
    table.to_csv(out_dir / "grid.csv", index=False)
    seconds = float(log.groupby(RUN)["wall_time"].max().sum()) if len(log) else 0.0
    document: dict[str, Any] = {
        "runs": {
            "stored": int(table["stored"].sum()),
            "grid": len(table),
            "training_seconds": round(seconds, 1),
        }
    }
    if not len(log):
        metrics_path.write_text(json.dumps(document, indent=2) + "\n")
        return {}
    runs = scores(log, settings["budget"])
    tables = {
        "log": log,
        "runs": runs,
        "summary": summary_table(runs),
        "questions": questions(runs, settings),
        "curves_evals": on_grid(
            log, "evals", np.arange(0, settings["budget"] + 1, settings["log_every"])
        ),
        "curves_time": on_grid(log, "wall_time", np.linspace(0.0, log["wall_time"].max(), 101)),
    }
    for name, frame in tables.items():
        frame.to_csv(out_dir / f"{name}.csv", index=False)
    for row in tables["summary"].itertuples():
        document.setdefault(row.problem, {})[row.variant] = {
            "error": _finite(row.error_geomean),
            "error_min": _finite(row.error_min),
            "error_max": _finite(row.error_max),
            "seeds": int(row.seeds),
        }
    metrics_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return tables


def _finite(value: float) -> float | None:
    """``value`` to 4 significant digits (errors span orders of magnitude); None if not finite."""
    return float(f"{value:.4g}") if np.isfinite(value) else None
