"""Summaries of an experiment's raw log: the per-optimizer table, the metrics JSON and the
wide CSVs that ``dvc plots`` draws."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

OPTIMIZER_LABELS = {
    "sgd": "SGD", "adam": "Adam", "lbfgs": "L-BFGS", "adam_sgd": "Adam→SGD",
    "fuse_pv_epoch": "FUSE-PV (epoch)", "fuse_pv_gradient": "FUSE-PV (gradient)",
    "fuse_pv_loss": "FUSE-PV (loss)",
}


def final_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The last logged epoch of every run."""
    last = log.groupby(["model", "optimizer", "seed"])["epoch"].transform("max")
    return log[log["epoch"] == last]


def switch_epochs(log: pd.DataFrame) -> pd.DataFrame:
    """Per run, the first epoch trained in a phase other than the run's first phase
    (``NaN`` when the run never switched)."""
    def first_switch(run: pd.DataFrame) -> float:
        changed = run[run["phase"] != run["phase"].iloc[0]]
        return float(changed["epoch"].min()) if len(changed) else float("nan")
    keys = ["model", "optimizer", "seed"]
    return (log.sort_values("epoch").groupby(keys)[["epoch", "phase"]]
            .apply(first_switch).rename("switch_epoch").reset_index())


def summary_table(log: pd.DataFrame) -> pd.DataFrame:
    """Per model and optimizer: mean and std over seeds of the final test accuracy and
    train loss, mean closure evaluations, mean wall time, the number of seeds that
    switched phase and their median first epoch after the switch."""
    final = final_rows(log).merge(switch_epochs(log), on=["model", "optimizer", "seed"])
    table = final.groupby(["model", "optimizer"], sort=False).agg(
        seeds=("seed", "nunique"),
        test_accuracy_mean=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"),
        train_loss_mean=("train_loss", "mean"), train_loss_std=("train_loss", "std"),
        closure_evals=("closure_evals", "mean"), wall_time_s=("wall_time", "mean"),
        seeds_switched=("switch_epoch", "count"),
        switch_epoch=("switch_epoch", "median"),
    ).reset_index()
    return table


def metrics(table: pd.DataFrame) -> dict:
    """``{model: {optimizer: {test_accuracy, test_accuracy_std, train_loss, ...}}}``."""
    out: dict = {}
    for row in table.itertuples(index=False):
        out.setdefault(row.model, {})[row.optimizer] = {
            "test_accuracy": round(row.test_accuracy_mean, 6),
            "test_accuracy_std": round(_or_zero(row.test_accuracy_std), 6),
            "train_loss": round(row.train_loss_mean, 6),
            "train_loss_std": round(_or_zero(row.train_loss_std), 6),
            "closure_evals": round(row.closure_evals, 1),
            "wall_time_s": round(row.wall_time_s, 3),
        }
    return out


def _or_zero(value: float) -> float:
    """std over a single seed is NaN; JSON metrics report 0 instead."""
    return 0.0 if pd.isna(value) else float(value)


def plot_tables(log: pd.DataFrame, column: str) -> dict[str, pd.DataFrame]:
    """Per model, ``epoch`` and one column per optimizer: the seed mean of ``column``."""
    wide = log.pivot_table(index=["model", "epoch"], columns="optimizer", values=column,
                           aggfunc="mean")
    return {model: wide.loc[model].reset_index().rename(columns=OPTIMIZER_LABELS)
            for model in log["model"].unique()}


def write_outputs(log: pd.DataFrame, out_dir: Path, metrics_path: Path) -> pd.DataFrame:
    """``log.csv``, ``summary.csv``, ``plots/<model>_<column>.csv`` under ``out_dir`` and
    the metrics JSON; returns the summary table. Clears ``plots/`` and ``figures/``
    first (the notebook draws the figures afterwards)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for derived in ("plots", "figures"):  # the output persists: no files of earlier grids
        shutil.rmtree(out_dir / derived, ignore_errors=True)
    log.to_csv(out_dir / "log.csv", index=False)
    table = summary_table(log)
    table.to_csv(out_dir / "summary.csv", index=False)
    (out_dir / "plots").mkdir(exist_ok=True)
    for column in ("test_accuracy", "train_loss"):
        for model, frame in plot_tables(log, column).items():
            frame.to_csv(out_dir / "plots" / f"{model}_{column}.csv", index=False)
    metrics_path.write_text(json.dumps(metrics(table), indent=2, ensure_ascii=False) + "\n")
    return table
