"""The image family's summaries (fuse_repro.image.summary) of a small grid of runs."""

import math

import pandas as pd
import pytest

from fuse_repro.image.report import summary_for_display
from fuse_repro.image.summary import epoch_times, metrics, phase_speed, summary_table


def test_target_accuracy_and_phase_speed(grid_log):
    """Evaluations and time to the target come from the first epoch reaching it; the
    speed ratios compare FUSE-PV's phases with Adam and L-BFGS in the same grid."""
    frame = grid_log[0]
    table = summary_table(frame, target_accuracy=0.0).set_index("optimizer")
    assert (table["evals_to_target"] == 0).all() and (table["seeds_reached"] == 2).all()
    unreachable = summary_table(frame, target_accuracy=1.01)
    assert (unreachable["seeds_reached"] == 0).all()
    times = epoch_times(frame)
    adam = times[(times["optimizer"] == "adam")].iloc[0]
    runs = frame[frame["optimizer"] == "adam"]
    assert adam["epochs"] == len(runs) - runs["seed"].nunique()
    assert adam["seconds_per_epoch"] == pytest.approx(
        runs.groupby("seed")["wall_time"].max().sum() / adam["epochs"]
    )
    speed = phase_speed(times).set_index("phase")
    assert set(speed.index) == {"adam", "lbfgs"}
    pv = times.set_index(["optimizer", "phase"])
    assert speed.loc["lbfgs", "per_epoch"] == pytest.approx(
        pv.loc[("fuse_pv_epoch", "lbfgs"), "seconds_per_epoch"]
        / pv.loc[("lbfgs", "lbfgs"), "seconds_per_epoch"]
    )


def test_a_seed_missing_the_target_counts_as_infinite_in_the_median(grid_log):
    adam = grid_log[0][lambda f: (f["optimizer"] == "adam") & (f["model"] == "mlp")]
    target = adam.groupby("seed")["test_accuracy"].max().min()  # both seeds reach it
    first = adam[adam["test_accuracy"] >= target].groupby("seed")["charged_evals"].min()
    never = adam[adam["seed"] == 0].assign(seed=2, test_accuracy=0.0)
    row = summary_table(pd.concat([adam, never]), target).iloc[0]
    assert row["seeds_reached"] == 2 and row["seeds"] == 3
    assert row["evals_to_target"] == first.max()  # the median of (e0, e1, inf)
    twice = pd.concat([adam[adam["seed"] == 0], never, never.assign(seed=3)])
    row = summary_table(twice, target).iloc[0]
    assert row["seeds_reached"] == 1 and math.isinf(row["evals_to_target"])


def test_a_seed_that_diverged_is_counted_and_never_averaged_away(grid_log):
    """One of two seeds with a non-finite final loss: the table's loss is NaN (not the
    other seed's), the seed is counted, the metrics flag it and the report says so."""
    adam = grid_log[0][lambda f: (f["optimizer"] == "adam") & (f["model"] == "mlp")].copy()
    last = adam["epoch"] == adam["epoch"].max()
    adam.loc[last & (adam["seed"] == 1), "train_loss"] = math.nan
    table = summary_table(adam, target_accuracy=1.01)
    row = table.iloc[0]
    assert row["seeds_diverged"] == 1 and math.isnan(row["train_loss_mean"])
    entry = metrics(table)["mlp"]["adam"]
    assert entry["diverged"] and entry["seeds_diverged"] == 1 and entry["train_loss"] is None
    shown = summary_for_display(table).iloc[0]["train loss"]
    assert shown == "— (1/2 seeds diverged)"
