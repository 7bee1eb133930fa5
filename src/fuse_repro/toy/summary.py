"""Summaries of the toy ablation's raw log (:mod:`fuse_repro.toy`): one row per run, the
comparison and ablation tables, the metrics JSON, the gap curves and the verdict on the
switch rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fuse_repro.core.optimizers import FUSE_PV_RULES, LABELS
from fuse_repro.toy.grid import ablation_variants, function_key, main_variants

RUN_KEYS = ["function", "variant", "noise", "start"]
CELL_KEYS = ["function", "variant", "noise"]
SUMMARY_COLUMNS = [
    "final_gap",
    "success",
    "final_evals",
    "final_time",
    "evals_to_target",
    "time_to_target",
    "switch_evals",
]
CURVE_COLUMNS = ["evals", "q25", "median", "q75"]
PATH_COLUMNS = ["step", "evals", "wall_time", "gap", "phase", "switch_step", "x0", "x1"]
PATH_START = 0
"""The start whose whole path a cell of the reported starts keeps (2-D functions: the
contour figures)."""
RECORD_COLUMNS = list(
    dict.fromkeys(["part", *RUN_KEYS, *SUMMARY_COLUMNS, *CURVE_COLUMNS, *PATH_COLUMNS])
)
"""A cell's record (:func:`cell_record`), one table of three parts: ``run`` rows (one per
start, :data:`SUMMARY_COLUMNS`), ``curve`` rows (:data:`CURVE_COLUMNS`) and ``path`` rows
(:data:`PATH_COLUMNS` of the cell's first start: :data:`PATH_START`, or the first selection
start); a column outside its part is empty."""
TOY_LABELS = {**LABELS, "lbfgs": "L-BFGS (torch)", "fuse-theta=0": "L-BFGS (FUSE, θ=0)"}
GAP_FLOOR = 1e-16  # gaps are clipped here on log axes (f* itself has rounding error)


def variant_label(key: str) -> str:
    """``fuse-theta=0.5`` -> ``FUSE θ=0.5``; ``fuse_pv_epoch-switch_epoch=2`` ->
    ``FUSE-PV (epoch), switch_epoch=2``."""
    if key in TOY_LABELS:
        return TOY_LABELS[key]
    name, _, setting = key.partition("-")
    if name == "fuse":
        return "FUSE " + setting.replace("theta", "θ")
    return f"{TOY_LABELS.get(name, name)}, {setting}"


def run_summary(log: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """One row per run. At the budget (the last row with at most ``budget`` evaluations):
    ``final_gap`` (inf when x left the finite numbers), ``success`` (distance to a
    global minimiser <= ``success_tol``), ``final_evals`` and ``final_time`` (the
    evaluations and seconds inside ``step`` used). ``evals_to_target`` / ``time_to_target``: the
    evaluations and seconds when f − f* first reached ``target_gap`` (NaN if never).
    ``switch_evals``: evaluations done when FUSE-PV switched to L-BFGS, from its logged
    ``switch_step`` counter (NaN if it never switched, and for every other optimizer)."""
    log = log.sort_values(RUN_KEYS + ["step"])
    within = log[log["evals"] <= settings["budget"]]
    final = within.groupby(RUN_KEYS, sort=False).tail(1).set_index(RUN_KEYS)
    hit = (
        within[within["gap"] <= settings["target_gap"]]
        .groupby(RUN_KEYS)
        .head(1)
        .set_index(RUN_KEYS)
    )
    switch_steps = log.groupby(RUN_KEYS, sort=False)["switch_step"].max().dropna()
    evals_at = log.set_index(RUN_KEYS + ["step"])["evals"]
    switch = pd.Series(
        evals_at.reindex([(*key, int(step)) for key, step in switch_steps.items()]).to_numpy(),
        index=switch_steps.index,
        dtype=float,
    )
    summary = pd.DataFrame(
        {
            "final_gap": final["gap"].where(np.isfinite(final["gap"]), np.inf),
            "success": final["distance"] <= settings["success_tol"],
            "final_evals": final["evals"],
            "final_time": final["wall_time"],
            "evals_to_target": hit["evals"].reindex(final.index),
            "time_to_target": hit["wall_time"].reindex(final.index),
            "switch_evals": switch.reindex(final.index),
        }
    )
    return summary.reset_index()


def cell_record(log: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """What the study keeps of one cell's per-step log (all starts of one function,
    variant and noise scale): :func:`run_summary` per start, :func:`gap_quantiles` over the
    starts, and the path of its first start (:data:`PATH_START`; on the selection starts,
    the first of those) on a 2-D function. Every table and
    figure reads these alone, so a cell's record is small enough for git at the paper scale
    (its per-step log is not: ``fuse_repro.toy.runs.cell_runs`` rebuilds it on demand, with
    the same numbers, the seeds being fixed)."""
    path = log[(log["start"] == log["start"].min()) & log["x0"].notna()]
    parts = {
        "run": run_summary(log, settings),
        "curve": gap_quantiles(log, settings["budget"]),
        "path": path[CELL_KEYS + ["start", *PATH_COLUMNS]],
    }
    record = pd.concat(
        [part.assign(part=name) for name, part in parts.items() if len(part)], ignore_index=True
    )
    return record.reindex(columns=RECORD_COLUMNS)


def record_part(records: pd.DataFrame, part: str) -> pd.DataFrame:
    """The ``part`` rows of cell records with that part's columns (and their types)."""
    columns = {"run": SUMMARY_COLUMNS, "curve": CURVE_COLUMNS, "path": PATH_COLUMNS}[part]
    keys = CELL_KEYS if part == "curve" else RUN_KEYS
    rows = records.loc[records["part"] == part, keys + columns].reset_index(drop=True)
    if part == "run":
        rows = rows.astype({"start": int, "success": bool, "final_evals": int})
    elif part == "path":
        rows = rows.astype({"start": int, "step": int, "evals": int})
    return rows.astype({"evals": int}) if part == "curve" else rows


def _median_or_nan(values: pd.Series) -> float:
    """Median with a missing value counted as +inf (a run that never got there); NaN
    when at least half the runs never got there."""
    median = float(np.median(values.fillna(np.inf)))
    return median if np.isfinite(median) else np.nan


def cell_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Per function, variant and noise scale, over starts: success rate, fraction of runs
    reaching the target, median evaluations and seconds to the target (unreached runs
    count as never), median and quartiles of the final gap."""
    grouped = summary.groupby(CELL_KEYS, sort=False)
    return grouped.agg(
        starts=("start", "nunique"),
        success_rate=("success", "mean"),
        reached_target=("evals_to_target", lambda v: float(v.notna().mean())),
        median_evals_to_target=("evals_to_target", _median_or_nan),
        median_time_to_target=("time_to_target", _median_or_nan),
        median_final_gap=("final_gap", "median"),
        final_gap_q25=("final_gap", lambda v: v.quantile(0.25, interpolation="lower")),
        final_gap_q75=("final_gap", lambda v: v.quantile(0.75, interpolation="higher")),
        median_switch_evals=("switch_evals", "median"),
    ).reset_index()


def comparison(cells: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """The rows of :func:`cell_summary` that make the main comparison, in params order."""
    functions = [function_key(spec) for spec in settings["functions"]]
    variants = [v.key for v in main_variants(settings)]
    rows = cells[
        cells["function"].isin(functions)
        & cells["variant"].isin(variants)
        & cells["noise"].isin(settings["noise_scales"])
    ]
    order = {name: i for i, name in enumerate(functions + variants)}
    return rows.sort_values(
        ["noise", "function", "variant"],
        key=lambda c: c.map(order) if c.name != "noise" else c,
        ignore_index=True,
    )


def performance_profiles(summary: pd.DataFrame, comparison: pd.DataFrame) -> pd.DataFrame:
    """Dolan & Moré (Math. Program. 2002) performance profiles of the comparison's variants,
    per noise scale. A problem ``p`` is one function from one start; a variant's cost
    ``t_ps`` is its closure evaluations to the target gap (infinite when it never gets
    there within the budget); ``r_ps = t_ps / min_s t_ps`` and
    ``rho_s(tau) = |{p : r_ps <= tau}| / |P|`` (a problem no variant solves counts against
    all). Rows ``noise, variant, tau, fraction`` at ``tau = 1`` and wherever a profile
    steps: the profile is the step function through them."""
    runs = summary.merge(comparison[CELL_KEYS], on=CELL_KEYS)
    rows = []
    for noise, frame in runs.groupby("noise", sort=True):
        cost = frame.pivot(index=["function", "start"], columns="variant", values="evals_to_target")
        cost = cost.fillna(np.inf).clip(lower=1.0)
        best = cost.min(axis=1)
        ratios = cost.div(best, axis=0).where(np.isfinite(best), np.inf, axis=0)
        for variant in dict.fromkeys(frame["variant"]):
            finite = ratios[variant][np.isfinite(ratios[variant])].to_numpy()
            for tau in np.unique(np.concatenate([[1.0], finite])):
                rows.append((noise, variant, tau, (finite <= tau).sum() / len(ratios)))
    return pd.DataFrame(rows, columns=["noise", "variant", "tau", "fraction"])


def ablation(cells: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """:func:`cell_summary` rows of the ablation, with the swept ``setting`` and ``value``
    and the ``starts`` they ran from: ``reported`` or ``selection``
    (:class:`~fuse_repro.toy.grid.Variant`)."""
    functions = [function_key(spec) for spec in settings["ablation"]["functions"]]
    frames = []
    for setting, variants in ablation_variants(settings).items():
        values = {v.key: dict(v.settings)[setting] for v in variants}
        starts = {v.key: "selection" if v.selection else "reported" for v in variants}
        rows = cells[
            cells["function"].isin(functions)
            & cells["variant"].isin(values)
            & cells["noise"].isin(settings["ablation"]["noise_scales"])
        ]
        frames.append(
            rows.assign(
                setting=setting,
                value=rows["variant"].map(values),
                starts=rows["variant"].map(starts),
            )
        )
    return pd.concat(frames, ignore_index=True)


def metrics(table: pd.DataFrame) -> dict:
    """``{function: {"noise=<s>": {variant: {success_rate, reached_target,
    median_evals_to_target, median_final_gap}}}}`` (null where undefined)."""
    out: dict = {}
    for row in table.itertuples(index=False):
        out.setdefault(row.function, {}).setdefault(f"noise={row.noise:g}", {})[row.variant] = {
            "success_rate": round(row.success_rate, 4),
            "reached_target": round(row.reached_target, 4),
            "median_evals_to_target": None
            if pd.isna(row.median_evals_to_target)
            else float(row.median_evals_to_target),
            "median_final_gap": None
            if not np.isfinite(row.median_final_gap)
            else float(f"{row.median_final_gap:.4g}"),
        }
    return out


def gap_quantiles(log: pd.DataFrame, budget: int, points: int = 200) -> pd.DataFrame:
    """Per run, f − f* after each of ``points`` evaluation counts from 0 to ``budget``
    (the gap of the last step within that many evaluations; a run that stopped early
    keeps its last gap; a non-finite one counts as +inf); then, per cell, the median and
    quartiles over starts. Columns: function, variant, noise, evals, median, q25, q75."""
    grid = np.unique(np.linspace(0, budget, points).round().astype(int))
    frames = []
    for key, run in log.sort_values(RUN_KEYS + ["step"]).groupby(RUN_KEYS, sort=False):
        index = np.searchsorted(run["evals"].to_numpy(), grid, side="right") - 1
        gap = run["gap"].to_numpy()[index]
        frames.append(
            pd.DataFrame(
                dict(zip(RUN_KEYS, key))
                | {"evals": grid, "gap": np.where(np.isfinite(gap), gap, np.inf)}
            )
        )
    gaps = pd.concat(frames, ignore_index=True).groupby(CELL_KEYS + ["evals"], sort=False)["gap"]
    # the quartiles are order statistics (a linear interpolation between two infinite gaps
    # would be NaN); the median of two middle values is their mean
    return pd.DataFrame(
        {
            "q25": gaps.quantile(0.25, interpolation="lower"),
            "median": gaps.median(),
            "q75": gaps.quantile(0.75, interpolation="higher"),
        }
    ).reset_index()


def ranked(cells: pd.DataFrame, target_gap: float) -> pd.DataFrame:
    """``cells`` (rows of :func:`cell_summary`) best first: highest success rate, then lowest
    median final gap (gaps at or below ``target_gap`` count as equal: those runs stopped
    there), then fewest median evaluations to the target."""
    keys = pd.DataFrame(
        {
            "success": -cells["success_rate"],
            "gap": cells["median_final_gap"].clip(lower=target_gap),
            "evals": cells["median_evals_to_target"].fillna(np.inf),
        }
    )
    order = keys.sort_values(["success", "gap", "evals"], kind="stable").index
    return cells.loc[order]


def equivalent(a: pd.Series, b: pd.Series, target_gap: float) -> bool:
    """Two cells equal on every key of :func:`ranked` (gaps and evaluations within 10 %)."""
    gaps = [max(c.median_final_gap, target_gap) for c in (a, b)]
    evals = [c.median_evals_to_target for c in (a, b)]
    same_evals = all(pd.isna(e) for e in evals) or (
        not any(pd.isna(e) for e in evals) and np.isclose(*evals, rtol=0.1)
    )
    return a.success_rate == b.success_rate and np.isclose(*gaps, rtol=0.1) and bool(same_evals)


def rule_ranking(table: pd.DataFrame, target_gap: float) -> pd.DataFrame:
    """Per function and noise scale, the FUSE-PV switch rules ordered by :func:`ranked`:
    columns function, noise, winner, tied (the best two equal on every key), and each
    rule's success rate, median final gap and median evaluations to the target."""
    rows = []
    rules = table[table["variant"].isin(FUSE_PV_RULES)]
    columns = ("success_rate", "median_final_gap", "median_evals_to_target")
    for (function, noise), cell in rules.groupby(["function", "noise"], sort=False):
        order = ranked(cell, target_gap)
        best = order.iloc[0]
        tied = len(order) > 1 and equivalent(best, order.iloc[1], target_gap)
        by_rule = cell.set_index("variant")
        rows.append(
            {"function": function, "noise": noise, "winner": best.variant, "tied": tied}
            | {f"{r}_{c}": by_rule[c].get(r, np.nan) for r in FUSE_PV_RULES for c in columns}
        )
    return pd.DataFrame(rows)


def rule_verdict(ranking: pd.DataFrame) -> str:
    """One sentence describing the three-way ranking of the switch rules, from
    :func:`rule_ranking`. It gives no verdict on the paper's statement that the epoch rule
    slightly outperforms the others: the paired sign tests of the claims table
    (:func:`fuse_repro.toy.claims.claim_rows`) do, one per pair, and a count of wins alone
    cannot say whether a difference is more than chance."""
    decided = ranking[~ranking["tied"]]
    wins = decided["winner"].value_counts().reindex(list(FUSE_PV_RULES), fill_value=0)
    counts = ", ".join(f"{variant_label(r)} {wins[r]}" for r in FUSE_PV_RULES)
    if decided.empty:
        leader = "no rule wins a comparison (every one is a tie)"
    elif wins["fuse_pv_epoch"] == wins.max() and (wins == wins.max()).sum() == 1:
        leader = "the epoch rule wins the most"
    elif wins["fuse_pv_epoch"] == wins.max():
        leader = "the epoch rule shares the most wins"
    else:
        leader = "another rule wins more than the epoch rule"
    return (
        f"Switch rules, wins over {len(ranking)} function × noise comparisons "
        "(success rate, then median final gap, then median evaluations to the target; "
        f"{len(ranking) - len(decided)} ties): {counts}: {leader}. Whether the epoch rule "
        "outperforms the other two (the paper's statement) is decided by the paired sign "
        "tests in the claims table, not by this count."
    )


DERIVED = ("grid", "summary", "cells", "comparison", "ablation", "rules", "curves", "profiles")
"""The tables :func:`write_summaries` derives from the cells (``<name>.csv``)."""


def write_summaries(
    records: pd.DataFrame,
    settings: dict[str, Any],
    out_dir: Path,
    metrics_path: Path,
    grid: list[tuple[str, str, float]],
) -> dict[str, pd.DataFrame]:
    """From the cells' records (:func:`cell_record`), under ``out_dir``: ``grid.csv`` (every
    cell of the ``grid``, function × variant × noise, stored or not), ``summary.csv`` (one
    row per run), ``cells.csv``, ``comparison.csv``, ``ablation.csv``, ``rules.csv``,
    ``curves.csv`` (the gap quantiles of the comparison), and the metrics JSON of the
    comparison, with ``runs``: how many of the grid's cells are stored and the seconds
    their runs spent in the optimizers' steps (summed). Every derived file
    and ``figures/`` is removed first (the folder persists; the notebook draws the figures
    after), so that with no cell at all only the grid and the metrics are left."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "figures", ignore_errors=True)
    for name in DERIVED:
        (out_dir / f"{name}.csv").unlink(missing_ok=True)
    held = set(records[CELL_KEYS].drop_duplicates().itertuples(index=False, name=None))
    cells_table = pd.DataFrame(grid, columns=CELL_KEYS)
    cells_table["stored"] = [cell in held for cell in grid]
    cells_table.to_csv(out_dir / "grid.csv", index=False)
    runs = {"stored": int(cells_table["stored"].sum()), "grid": len(cells_table)}
    if not len(records):
        runs["training_seconds"] = 0.0
        metrics_path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
        return {}
    summary = record_part(records, "run")
    runs["training_seconds"] = round(float(summary["final_time"].sum()), 1)
    cells = cell_summary(summary)
    tables = {
        "summary": summary,
        "cells": cells,
        "comparison": comparison(cells, settings),
        "ablation": ablation(cells, settings),
    }
    tables["rules"] = rule_ranking(tables["comparison"], settings["target_gap"])
    curves = record_part(records, "curve")
    tables["curves"] = curves.merge(tables["comparison"][CELL_KEYS], on=CELL_KEYS)
    tables["profiles"] = performance_profiles(summary, tables["comparison"])
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    document = {"runs": runs} | metrics(tables["comparison"])
    metrics_path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    return tables
