"""The image family's summaries (fuse_repro.image.summary) of a small grid of runs."""

import pytest

from fuse_repro.image.summary import epoch_times, phase_speed, summary_table


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
