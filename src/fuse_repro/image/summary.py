"""Summaries of an experiment's raw log: the per-optimizer table, the metrics JSON and the
wide CSVs that ``dvc plots`` draws."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from fuse_repro.core.optimizers import LABELS
from fuse_repro.image.runs import DIVERGED, whole_epochs

RUN = ["model", "optimizer", "seed"]


def final_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The last logged epoch of every run."""
    last = log.groupby(RUN)["epoch"].transform("max")
    return log[log["epoch"] == last]


def switch_epochs(log: pd.DataFrame) -> pd.DataFrame:
    """Per run, the first epoch trained after the optimizer's switch, from its logged
    ``switch_epoch`` counter (epochs completed before the switch) plus one; ``NaN`` when
    the run never switched."""
    keys = RUN
    switched = (
        log["switch_epoch"].astype(float).groupby([log[k] for k in keys], sort=False).max() + 1
    )
    return switched.rename("switch_epoch").reset_index()


def first_reaching(log: pd.DataFrame, target_accuracy: float) -> pd.DataFrame:
    """Per run, the closure evaluations (charged as in the equal-budget comparisons:
    :func:`fuse_repro.image.runs.charged_evals`) and wall time at the first logged epoch
    whose test accuracy is at least ``target_accuracy`` (runs that never reach it are left
    out)."""
    keys = RUN
    reached = log[log["test_accuracy"] >= target_accuracy].sort_values("epoch")
    first = reached.groupby(keys).head(1)
    return first[keys + ["charged_evals", "wall_time"]].rename(
        columns={"charged_evals": "evals_to_target", "wall_time": "time_to_target"}
    )


def summary_table(log: pd.DataFrame, target_accuracy: float) -> pd.DataFrame:
    """Per model and optimizer: mean and std over seeds of the final test accuracy and
    train loss (NaN when a seed diverged: its loss is no number to average away), mean
    closure evaluations, mean wall time, the number of seeds that switched phase and their
    median first epoch after the switch, the number of seeds that diverged (final training
    loss not finite), the number of seeds reaching ``target_accuracy``, and the median over
    all seeds of the evaluations and time to it, a seed that never reaches it counting as
    infinite (so the median is infinite when half the seeds or more miss; AlgoPerf scores
    misses the same way)."""
    keys = RUN
    final = (
        final_rows(log)
        .drop(columns="switch_epoch")  # the counter; the table reports the epoch after it
        .merge(switch_epochs(log), on=keys)
        .merge(first_reaching(log, target_accuracy), on=keys, how="left")
        .fillna({"evals_to_target": math.inf, "time_to_target": math.inf})
    )
    table = (
        final.groupby(["model", "optimizer"], sort=False)
        .agg(
            seeds=("seed", "nunique"),
            test_accuracy_mean=("test_accuracy", "mean"),
            test_accuracy_std=("test_accuracy", "std"),
            train_loss_mean=("train_loss", lambda loss: loss.mean(skipna=False)),
            train_loss_std=("train_loss", lambda loss: loss.std(skipna=False)),
            closure_evals=("closure_evals", "mean"),
            wall_time_s=("wall_time", "mean"),
            seeds_switched=("switch_epoch", "count"),
            switch_epoch=("switch_epoch", "median"),
            seeds_diverged=("train_loss", lambda loss: int((~np.isfinite(loss)).sum())),
            seeds_reached=("evals_to_target", lambda e: int(np.isfinite(e).sum())),
            evals_to_target=("evals_to_target", "median"),
            time_to_target_s=("time_to_target", "median"),
        )
        .reset_index()
    )
    return table


def epoch_times(log: pd.DataFrame) -> pd.DataFrame:
    """Per model, optimizer and phase: mean training seconds per epoch and per closure
    evaluation over all seeds' epochs spent in that phase (a diverged run's epochs after
    its divergence trained nothing and are left out)."""
    keys = RUN
    log = whole_epochs(log).sort_values(keys + ["epoch"])
    steps = log.assign(
        seconds=log.groupby(keys)["wall_time"].diff(),
        evals=log.groupby(keys)["closure_evals"].diff(),
    ).dropna(subset=["seconds"])
    steps = steps[steps["phase"] != DIVERGED]
    table = steps.groupby(["model", "optimizer", "phase"], sort=False).agg(
        epochs=("epoch", "count"), seconds=("seconds", "sum"), evals=("evals", "sum")
    )
    table["seconds_per_epoch"] = table["seconds"] / table["epochs"]
    table["seconds_per_eval"] = table["seconds"] / table["evals"]
    return table.reset_index()


def phase_speed(times: pd.DataFrame, rule: str = "fuse_pv_epoch") -> pd.DataFrame:
    """Per model: FUSE-PV's seconds per epoch in its Adam phase ÷ Adam's, and in its
    L-BFGS phase ÷ torch L-BFGS's (same settings), from one run of the grid; also the
    ratios per closure evaluation. Rows only where both sides ran."""
    rows = []
    for model, runs in times.groupby("model", sort=False):
        by = runs.set_index(["optimizer", "phase"])
        for phase, reference in (("adam", ("adam", "adam")), ("lbfgs", ("lbfgs", "lbfgs"))):
            if (rule, phase) in by.index and reference in by.index:
                ours, theirs = by.loc[(rule, phase)], by.loc[reference]
                rows.append(
                    {
                        "model": model,
                        "phase": phase,
                        "reference": reference[0],
                        "epochs": int(ours["epochs"]),
                        "per_epoch": ours["seconds_per_epoch"] / theirs["seconds_per_epoch"],
                        "per_eval": ours["seconds_per_eval"] / theirs["seconds_per_eval"],
                    }
                )
    return pd.DataFrame(
        rows, columns=["model", "phase", "reference", "epochs", "per_epoch", "per_eval"]
    )


def metrics(table: pd.DataFrame) -> dict:
    """``{model: {optimizer: {test_accuracy, test_accuracy_std, train_loss, ...,
    seeds_diverged, diverged}}}``, strict JSON: a value that is not a finite number (a
    diverged run's loss) is ``null`` and ``diverged`` is true; the std over a single seed
    is 0."""
    out: dict = {}
    for row in table.itertuples(index=False):
        values = {
            "test_accuracy": (row.test_accuracy_mean, 6),
            "test_accuracy_std": (0.0 if row.seeds == 1 else row.test_accuracy_std, 6),
            "train_loss": (row.train_loss_mean, 6),
            "train_loss_std": (0.0 if row.seeds == 1 else row.train_loss_std, 6),
            "closure_evals": (row.closure_evals, 1),
            "wall_time_s": (row.wall_time_s, 3),
        }
        entry = {
            key: round(float(value), digits) if math.isfinite(value) else None
            for key, (value, digits) in values.items()
        }
        out.setdefault(row.model, {})[row.optimizer] = entry | {
            "seeds_diverged": int(row.seeds_diverged),
            "diverged": not math.isfinite(row.train_loss_mean),
        }
    return out


def plot_tables(log: pd.DataFrame, column: str) -> dict[str, pd.DataFrame]:
    """Per model, ``epoch`` and one column per optimizer: the seed mean of ``column``
    (whole epochs: seeds share them)."""
    wide = whole_epochs(log).pivot_table(
        index=["model", "epoch"], columns="optimizer", values=column, aggfunc="mean"
    )
    return {
        model: wide.loc[model].reset_index().rename(columns=LABELS)
        for model in log["model"].unique()
    }


DERIVED = (
    "grid.csv",
    "log.csv",
    "summary.csv",
    "epoch_times.csv",
    "models.json",
    "plots",
    "figures",
)
"""What :func:`write_summaries` derives from the runs (everything in an experiment's results
folder but ``runs/`` and ``checkpoints/``)."""


def training_seconds(log: pd.DataFrame, keys: list[str] = RUN) -> float:
    """Training seconds summed over the runs of ``log`` (runs told apart by ``keys``): each
    run's wall time at its last whole epoch, which leaves out the scoring after each epoch."""
    if not len(log):
        return 0.0
    return round(float(whole_epochs(log).groupby(keys)["wall_time"].max().sum()), 1)


def grid_table(log: pd.DataFrame, grid: list[tuple[str, str, int]]) -> pd.DataFrame:
    """Every run of the grid (model, optimizer, seed) and whether ``log`` holds it."""
    table = pd.DataFrame(grid, columns=RUN)
    held = set(log[RUN].drop_duplicates().itertuples(index=False, name=None))
    return table.assign(stored=[run in held for run in grid])


def write_summaries(
    log: pd.DataFrame,
    out_dir: Path,
    metrics_path: Path,
    target_accuracy: float,
    parameters: dict[str, int],
    grid: list[tuple[str, str, int]],
) -> pd.DataFrame:
    """``grid.csv`` (every run of the ``grid``, stored or not), ``log.csv``,
    ``summary.csv``, ``epoch_times.csv``, ``models.json`` (``parameters``: each model's
    parameter count), ``plots/<model>_<column>.csv`` under ``out_dir`` and the metrics
    JSON, with ``runs``: how many of the grid's runs the log holds and their
    :func:`training_seconds`; returns the summary
    table. Every derived file is removed first (the folder persists), so that with no run
    at all only the grid and the metrics are left, saying so."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DERIVED:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    runs = grid_table(log, grid)
    runs.to_csv(out_dir / "grid.csv", index=False)
    count = {
        "stored": int(runs["stored"].sum()),
        "grid": len(runs),
        "training_seconds": training_seconds(log),
    }
    table = summary_table(log, target_accuracy) if len(log) else pd.DataFrame()
    if len(log):
        log.to_csv(out_dir / "log.csv", index=False)
        table.to_csv(out_dir / "summary.csv", index=False)
        epoch_times(log).to_csv(out_dir / "epoch_times.csv", index=False)
        (out_dir / "models.json").write_text(json.dumps(parameters, indent=2) + "\n")
        (out_dir / "plots").mkdir()
        for column in ("test_accuracy", "train_loss"):
            for model, frame in plot_tables(log, column).items():
                frame.to_csv(out_dir / "plots" / f"{model}_{column}.csv", index=False)
    document = {"runs": count} | (metrics(table) if len(log) else {})
    metrics_path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    return table
