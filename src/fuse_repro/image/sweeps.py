"""Declared sweeps of the image experiments: tuning, oracle switches, ablations.

A sweep (one entry of ``sweeps`` in ``params.yaml``) starts from one experiment at one
scale, changes some of its settings for the whole sweep (``settings``: a validation split,
other seeds), and runs *points*: per optimizer, the values its swept settings take. A
setting is named by its path (``adam.lr``, ``fuse_pv.switch_epoch``,
``batch_norm_updates``) and given either

* a list: every value (with several lists, every combination: a grid), or
* a range ``{low, high, log}``: ``trials`` quasi-random values (a scrambled Halton
  sequence, :class:`scipy.stats.qmc.Halton`, uniform in ``[low, high]`` or in its
  logarithm), so every optimizer of a search gets the same number of trials
  (Schmidt, Schneider & Hennig 2021; AlgoPerf's quasi-random search, Dahl et al. 2023).

An optimizer listed with no settings runs once, as configured (a reference, or a switch
rule measured against the oracle switch). Each point's runs are ordinary runs of the
experiment (:func:`fuse_repro.image.runs.run_grid`): stored one file each, under a key of
every setting they depend on, so a sweep resumes where it stopped and one point reruns
alone (``python -m fuse_repro.sweep NAME --point KEY``).

A point is scored by its final-epoch accuracy on the validation split (on the test set
when the sweep has none, which the summary says), per seed; each point is compared with
the best point of its model, paired by seed (:func:`fuse_repro.core.statistics.paired`):
for a switch rule beside an oracle sweep of switch epochs that gap is the rule's regret.
With ``confirm_seeds`` the point chosen for each model and optimizer (the best mean score)
runs again on those new seeds, and the methods are compared on them
(:mod:`fuse_repro.image.comparison`): the tuned protocol's result, free of the optimism of
choosing and reporting on the same runs.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import scipy.stats

from fuse_repro.core.data import fingerprint
from fuse_repro.core.optimizers import LABELS
from fuse_repro.core.schema import ParamsError
from fuse_repro.core.statistics import paired
from fuse_repro.image.comparison import comparison_table, switching
from fuse_repro.image.runs import Splits, load_splits, resolve_device, run_grid
from fuse_repro.image.summary import RUN, summary_table, training_seconds

FIXED_FOR_A_SWEEP = (
    "models",
    "optimizers",
    "seeds",
    "train_size",
    "validation_size",
    "test_size",
    "normalize",
)
"""Settings a point may not change: the grid's lists and the data (one split per sweep)."""
SIGNIFICANT_DIGITS = 3
"""Sampled values are rounded to this many digits: short keys, values a reader can type."""


@dataclass(frozen=True)
class Point:
    """One optimizer with some of its settings changed: ``values`` as (path, value); on
    every model of the sweep, or on ``model`` only (a setting tuned for that model)."""

    optimizer: str
    values: tuple[tuple[str, Any], ...] = ()
    model: str | None = None

    @property
    def key(self) -> str:
        """``adam adam.lr=0.00305`` (``mlp: adam adam.lr=0.00305`` for one model): the
        point's name in tables, files and commands."""
        name = " ".join([self.optimizer, *(f"{path}={_text(v)}" for path, v in self.values)])
        return f"{self.model}: {name}" if self.model else name

    def applied_to(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` (an experiment's settings) running only this point."""
        settings = copy.deepcopy(base) | {"optimizers": [self.optimizer]}
        if self.model:
            settings["models"] = [self.model]
        for path, value in self.values:
            *blocks, name = path.split(".")
            node = settings
            for block in blocks:
                node = node[block]
            node[name] = value
        return settings


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def sampled(ranges: dict[str, dict[str, Any]], trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` points of a scrambled Halton sequence in the box of ``ranges`` (each
    ``{low, high, log}``), rounded to :data:`SIGNIFICANT_DIGITS` digits (to integers
    when ``low`` and ``high`` are both integers)."""
    unit = scipy.stats.qmc.Halton(d=len(ranges), scramble=True, seed=seed).random(trials)
    points = []
    for row in unit:
        point = {}
        for u, (path, spec) in zip(row, ranges.items()):
            low, high = spec["low"], spec["high"]
            if spec["log"]:
                value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            else:
                value = low + u * (high - low)
            integer = isinstance(low, int) and isinstance(high, int)
            point[path] = round(value) if integer else float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        points.append(point)
    return points


def points(sweep: dict[str, Any]) -> list[Point]:
    """Every point of ``sweep``: per optimizer, each combination of its lists with each
    sampled value of its ranges (one point when it has neither), after the point of its
    configured settings when ``defaults`` is true (default beside tuned)."""
    result = []
    for optimizer, space in sweep["optimizers"].items():
        lists = {path: v for path, v in space.items() if isinstance(v, list)}
        ranges = {path: v for path, v in space.items() if isinstance(v, dict)}
        if sweep["defaults"] and space:
            result.append(Point(optimizer))
        samples = sampled(ranges, sweep["trials"], sweep["seed"]) if ranges else [{}]
        for combination in itertools.product(*lists.values()):
            for sample in samples:
                values = dict(zip(lists, combination)) | sample
                result.append(Point(optimizer, tuple(sorted(values.items()))))
    return result


def check(sweep: dict[str, Any], base: dict[str, Any], where: str) -> list[Point]:
    """The points of ``sweep`` after checking what the experiment's schema cannot: a
    swept path exists, is not fixed for a sweep, and a range is well formed (each point's
    settings are then checked against the schema by the caller). Returns the points."""
    for optimizer, space in sweep["optimizers"].items():
        if not isinstance(space, dict):
            raise ParamsError(f"{where}.optimizers.{optimizer}: expected a mapping, got {space!r}")
        for path, values in space.items():
            key = f"{where}.optimizers.{optimizer}.{path}"
            if path.split(".")[0] in FIXED_FOR_A_SWEEP:
                raise ParamsError(f"{key}: a sweep's points cannot change {path.split('.')[0]}")
            node = base
            for part in path.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise ParamsError(f"{key}: no such setting in the experiment")
                node = node[part]
            if isinstance(values, dict):
                _check_range(values, key)
            elif not isinstance(values, list) or not values:
                raise ParamsError(
                    f"{key}: expected a list of values or a range {{low, high, log}}, "
                    f"got {values!r}"
                )
    return points(sweep)


def _check_range(spec: dict[str, Any], key: str) -> None:
    if set(spec) != {"low", "high", "log"}:
        raise ParamsError(f"{key}: a range has exactly the keys low, high, log; got {sorted(spec)}")
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise ParamsError(f"{key}: low and high must be numbers, got {low!r}, {high!r}")
    if not low < high or (spec["log"] and low <= 0):
        raise ParamsError(
            f"{key}: needs low < high{' and low > 0 (log)' if spec['log'] else ''}, "
            f"got {low}, {high}"
        )


# ------------------------------------------------------------------ summaries
def scored_on(log: pd.DataFrame) -> str:
    """``validation`` when the runs have a validation split, else ``test``."""
    return "test" if log["val_accuracy"].isna().all() else "validation"


def final_rows(log: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of every run (a point may change the epochs), with its ``point``
    and ``score`` (the accuracy of :func:`scored_on`)."""
    last = log[log["epoch"] == log.groupby(["point", *RUN])["epoch"].transform("max")]
    column = "val_accuracy" if scored_on(log) == "validation" else "test_accuracy"
    return last.assign(score=last[column])


TARGET_REFERENCE = "adam"
"""The method whose tuned runs set the target of :func:`time_to_target_table`."""


def time_to_target_table(log: pd.DataFrame, reference: str = TARGET_REFERENCE) -> pd.DataFrame:
    """Time to target on the confirmation runs, as AlgoPerf measures it: per model the
    target is the median over seeds of the tuned ``reference`` runs' final score (the
    accuracy of :func:`scored_on`: validation when there is a split; the lower median for
    an even number of seeds, a score one of them reached, so that at least half of the
    reference's seeds reach it); a run's time is its first logged row (epoch ends and the
    ``eval_every`` cadence) with a score at least the target, in charged closure
    evaluations and in training seconds, and infinite when it never gets there. Per model
    and method: the target, the seeds that reached it of all seeds, and the medians over
    all seeds (the lower median again: infinite only when more than half missed). Empty
    without ``reference`` runs."""
    column = "val_accuracy" if scored_on(log) == "validation" else "test_accuracy"
    rows = []
    for model, runs in log.groupby("model", sort=False):
        finals = final_rows(runs)
        targets = finals.loc[finals["optimizer"] == reference, "score"]
        if targets.empty:
            continue
        target = float(targets.quantile(0.5, interpolation="lower"))
        for optimizer, frame in runs.groupby("optimizer", sort=False):
            first = frame[frame[column] >= target].sort_values("epoch").groupby(RUN).head(1)
            seeds = frame["seed"].unique()
            reached = first.set_index("seed").reindex(seeds)
            evals = reached["charged_evals"].fillna(math.inf)
            seconds = reached["wall_time"].fillna(math.inf)
            rows.append(
                {
                    "model": model,
                    "optimizer": optimizer,
                    "target": target,
                    "seeds_reached": int(first["seed"].nunique()),
                    "seeds": len(seeds),
                    "evals_to_target": float(evals.quantile(0.5, interpolation="lower")),
                    "seconds_to_target": float(seconds.quantile(0.5, interpolation="lower")),
                }
            )
    return pd.DataFrame(rows)


def point_table(log: pd.DataFrame, sweep_points: list[Point]) -> pd.DataFrame:
    """One row per model and point: the swept values, the seeds, the mean score, final
    training loss, closure evaluations and wall time, how many seeds switched phase, and
    the paired gap to the best point of the model (mean and interval over seeds,
    :func:`~fuse_repro.core.statistics.paired`; 0 for the best point itself)."""
    finals = final_rows(log)
    by_key = {point.key: point for point in sweep_points}
    rows = []
    for model, frame in finals.groupby("model", sort=False):
        scores = frame.pivot_table(index="seed", columns="point", values="score")
        best = scores.mean().idxmax()
        for key, runs in frame.groupby("point", sort=False):
            gap = paired(scores[key], scores[best])
            rows.append(
                {
                    "model": model,
                    "point": key,
                    "optimizer": by_key[key].optimizer,
                    **dict(by_key[key].values),
                    "seeds": len(runs),
                    "score": runs["score"].mean(),
                    "train_loss": runs["train_loss"].mean(),
                    "closure_evals": runs["closure_evals"].mean(),
                    "wall_time": runs["wall_time"].mean(),
                    "switched": int(runs["switch_epoch"].notna().sum()),
                    "gap_to_best": gap.mean,
                    "gap_low": gap.low,
                    "gap_high": gap.high,
                    "best": key == best,
                }
            )
    return pd.DataFrame(rows)


ORACLE_SETTING = "fuse_pv.switch_epoch"
"""The setting whose sweep is an oracle switch: the best switch epoch in hindsight."""


def rule_regrets(table: pd.DataFrame) -> pd.DataFrame:
    """The switch rules of an oracle sweep (a :func:`point_table` that sweeps
    :data:`ORACLE_SETTING`): per model, each switching optimizer run only as configured
    (its one point is its name alone; an optimizer with swept points is being tuned, not
    measured), its regret (the gap to the model's best point, with its interval) and how
    many seeds switched, the rule closest to the best point first. Empty for any other
    sweep."""
    if ORACLE_SETTING not in table:
        return table.iloc[:0]
    points = table.groupby(["model", "optimizer"])["point"].transform("size")
    rules = table[
        (points == 1)
        & (table["point"] == table["optimizer"])
        & table["optimizer"].isin(switching(table["optimizer"]))
    ]
    return rules.sort_values(["model", "gap_to_best"], ascending=[True, False], kind="stable")


def default_vs_tuned(log: pd.DataFrame, sweep_points: list[Point]) -> pd.DataFrame:
    """Per model and optimizer swept beside its configured settings (``defaults``): the
    configured point's mean score, the tuned point (the best of all its points, as
    :func:`chosen`; the configured one may win) and its mean score, and the paired
    difference tuned minus configured over the trial seeds (mean, 95 % t-interval:
    :func:`~fuse_repro.core.statistics.paired`). The tuned point is chosen on these same
    seeds, so the gain is optimistic; the confirmation seeds compare the methods without
    that bias. Empty when no such optimizer has its configured point stored."""
    configured = {p.optimizer for p in sweep_points if not p.values}
    swept = {p.optimizer for p in sweep_points if p.values}
    finals = final_rows(log)
    rows = []
    for (model, optimizer), frame in finals.groupby(["model", "optimizer"], sort=False):
        scores = frame.pivot_table(index="seed", columns="point", values="score")
        if optimizer not in configured & swept or optimizer not in scores:
            continue
        tuned = scores.mean().idxmax()
        gain = paired(scores[tuned], scores[optimizer])
        rows.append(
            {
                "model": model,
                "optimizer": optimizer,
                "default_score": scores[optimizer].mean(),
                "tuned_point": tuned,
                "tuned_score": scores[tuned].mean(),
                "gain": gain.mean,
                "gain_low": gain.low,
                "gain_high": gain.high,
                "seeds": len(gain.differences),
            }
        )
    return pd.DataFrame(rows)


def chosen(table: pd.DataFrame, sweep_points: list[Point]) -> dict[str, dict[str, Any]]:
    """Per model and optimizer, its best-scoring point and that point's values (what
    tuning picks)."""
    by_key = {point.key: point for point in sweep_points}
    result: dict[str, dict[str, Any]] = {}
    for (model, optimizer), frame in table.groupby(["model", "optimizer"], sort=False):
        best = frame.loc[frame["score"].idxmax()]
        result.setdefault(model, {})[optimizer] = {
            "point": best["point"],
            "score": float(best["score"]),
            "values": dict(by_key[best["point"]].values),
        }
    return result


def run_sweep(
    settings: dict[str, Any],
    sweep_points: list[Point],
    prepared_dir: str | Path,
    runs_dir: Path,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials (:func:`run_points` of ``sweep_points``) and, when the sweep names
    ``confirm_seeds`` and every trial is stored, the confirmation runs: the point
    :func:`chosen` for each model and optimizer, run again on those new seeds (the tuned
    protocol's comparison, free of the selection's optimism). The experiment's data are
    loaded once, as ``settings`` (the sweep's) ask. Returns both logs (the second empty
    when there is none)."""
    device = resolve_device(settings["device"])
    splits = load_splits(settings["experiment"], settings, prepared_dir, device)
    data_id = fingerprint(prepared_dir, settings["experiment"])
    trials = run_points(settings, sweep_points, splits, runs_dir, data_id)
    complete = stored_runs(trials) == expected_runs(settings, sweep_points)
    if not settings["confirm_seeds"] or not complete:
        return trials, trials.iloc[:0]
    choice = chosen(point_table(trials, sweep_points), sweep_points)
    again = settings | {"seeds": settings["confirm_seeds"]}
    return trials, run_points(again, confirmation_points(choice), splits, runs_dir, data_id)


def confirmation_points(choice: dict[str, dict[str, Any]]) -> list[Point]:
    """The point :func:`chosen` for each model and optimizer, on that model only."""
    return [
        Point(optimizer, tuple(sorted(entry["values"].items())), model)
        for model, per_optimizer in choice.items()
        for optimizer, entry in per_optimizer.items()
    ]


def stored_runs(log: pd.DataFrame) -> int:
    """How many runs ``log`` holds."""
    return log.groupby(["point", *RUN]).ngroups if len(log) else 0


def run_points(
    settings: dict[str, Any],
    sweep_points: list[Point],
    splits: Splits,
    runs_dir: Path,
    data_id: str,
) -> pd.DataFrame:
    """The runs of every point, each stored in ``runs_dir`` as a run of the experiment
    (:func:`fuse_repro.image.runs.run_grid`, with the sweep's ``missing_runs``); returns
    their rows with a ``point`` column."""
    frames = [
        run_grid(point.applied_to(settings), splits, runs_dir, data_id).assign(point=point.key)
        for point in sweep_points
    ]
    stored = [frame for frame in frames if len(frame)]  # an empty one would make all object
    return pd.concat(stored or frames[:1], ignore_index=True)


def expected_runs(settings: dict[str, Any], sweep_points: list[Point]) -> int:
    """How many runs ``sweep_points`` make: each point on its model (or every model of
    ``settings``) times the seeds."""
    models = sum(1 if p.model else len(settings["models"]) for p in sweep_points)
    return models * len(settings["seeds"])


def values_table(sweep_points: list[Point], settings: dict[str, Any]) -> pd.DataFrame:
    """Per point: its key (``point``), optimizer and the settings its optimizer sweeps (one
    column each), a setting the point leaves as configured (the default point) with its
    value in ``settings`` (the sweep's)."""
    swept: dict[str, dict[str, None]] = {}
    for p in sweep_points:
        swept.setdefault(p.optimizer, {}).update(dict.fromkeys(path for path, _ in p.values))
    return pd.DataFrame(
        [
            {"point": p.key, "optimizer": p.optimizer}
            | {path: _configured(settings, path) for path in swept[p.optimizer]}
            | dict(p.values)
            for p in sweep_points
        ]
    )


def _configured(settings: dict[str, Any], path: str) -> Any:
    """The value of ``settings`` at ``path`` (``adam.lr``: ``settings["adam"]["lr"]``)."""
    return functools.reduce(operator.getitem, path.split("."), settings)


def write_summaries(
    trials: pd.DataFrame,
    confirmation: pd.DataFrame,
    sweep_points: list[Point],
    settings: dict[str, Any],
    out_dir: Path,
    metrics_path: Path,
) -> dict[str, pd.DataFrame]:
    """Under ``out_dir``: ``declared.csv`` (every declared point: key, optimizer, model and
    swept values, stored or not, so that the folder is never empty and git holds it);
    ``points.csv`` (:func:`point_table`), ``default_vs_tuned.csv`` (:func:`default_vs_tuned`,
    when the sweep has ``defaults``) and ``log.csv`` of the trials; with confirmation
    runs, ``confirmation_log.csv``, ``confirmation_summary.csv`` (the runs summarised like
    an experiment's, :func:`fuse_repro.image.summary.summary_table`) and, once the runs
    they compare are stored,
    ``comparison.csv`` (:func:`fuse_repro.image.comparison.comparison_table`) and
    ``time_to_target.csv`` (:func:`time_to_target_table`). The metrics JSON: ``runs``
    (trials stored and expected, and their
    :func:`~fuse_repro.image.summary.training_seconds`), ``scored_on``, ``chosen``
    (:func:`chosen`) and ``confirmation`` (runs stored and expected, and their seconds,
    when the sweep has confirm seeds).
    Derived files (and the figures under ``figures/``, which the notebook draws afterwards)
    are removed first. Returns the tables written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DERIVED:
        (out_dir / name).unlink(missing_ok=True)
    for figure in (out_dir / "figures").glob("*.png"):
        figure.unlink()
    document: dict[str, Any] = {
        "runs": {
            "stored": stored_runs(trials),
            "expected": expected_runs(settings, sweep_points),
            "training_seconds": training_seconds(trials, ["point", *RUN]),
        }
    }
    tables = {
        "declared": pd.DataFrame(
            [
                {"point": p.key, "optimizer": p.optimizer, "model": p.model, **dict(p.values)}
                for p in sweep_points
            ]
        )
    }
    if len(trials):
        tables["points"] = point_table(trials, sweep_points)
        gains = default_vs_tuned(trials, sweep_points)
        if len(gains):
            tables["default_vs_tuned"] = gains
        document |= {
            "scored_on": scored_on(trials),
            "chosen": chosen(tables["points"], sweep_points),
        }
        trials.to_csv(out_dir / "log.csv", index=False)
    if settings["confirm_seeds"]:
        optimizers = len({point.optimizer for point in sweep_points})
        expected = len(settings["models"]) * optimizers * len(settings["confirm_seeds"])
        document["confirmation"] = {
            "stored": stored_runs(confirmation),
            "expected": expected,
            "training_seconds": training_seconds(confirmation, ["point", *RUN]),
        }
    if len(confirmation):
        # Either table is empty while its methods' runs are not all stored yet: the
        # comparison without FUSE-PV runs, the time to target without reference runs.
        pending = {
            "comparison": comparison_table(confirmation),
            "time_to_target": time_to_target_table(confirmation),
        }
        tables |= {name: table for name, table in pending.items() if len(table)}
        tables["confirmation_summary"] = summary_table(confirmation, settings["target_accuracy"])
        confirmation.to_csv(out_dir / "confirmation_log.csv", index=False)
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    metrics_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return tables


DERIVED = (
    "declared.csv",
    "points.csv",
    "default_vs_tuned.csv",
    "log.csv",
    "comparison.csv",
    "confirmation_log.csv",
    "confirmation_summary.csv",
    "time_to_target.csv",
)
"""The files :func:`write_summaries` derives (removed before it writes)."""


def label(point_key: str) -> str:
    """``Adam (adam.lr=0.00316)`` for a point key."""
    optimizer, _, values = point_key.partition(" ")
    return f"{LABELS[optimizer]} ({values})" if values else LABELS[optimizer]
