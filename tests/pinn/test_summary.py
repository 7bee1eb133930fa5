"""The physics-informed study's summaries (fuse_repro.pinn.summary) on hand-made logs."""

import math

import numpy as np
import pandas as pd

from fuse_repro.pinn import summary

SWITCH = summary.HAND_SWITCH


def log(errors: dict[str, list[list[float]]], budget=30, every=10) -> pd.DataFrame:
    """Rows of ``variant -> per seed, the error at evaluations 0, every, 2 every, ...``."""
    rows = []
    for variant, seeds in errors.items():
        for seed, curve in enumerate(seeds):
            for i, error in enumerate(curve):
                rows.append(
                    dict(
                        problem="burgers",
                        variant=variant,
                        seed=seed,
                        step=i,
                        evals=i * every,
                        wall_time=0.1 * i,
                        loss=error**2,
                        error=error,
                        phase="adam",
                        switch_step=math.nan,
                    )
                )
    return pd.DataFrame(rows)


def test_each_run_is_scored_at_its_last_row_within_the_budget():
    frame = log({"adam": [[1.0, 0.5, 0.1, 0.01]]})
    scores = summary.scores(frame, budget=25)
    assert scores["evals"].tolist() == [20] and scores["score"].tolist() == [1.0]


def test_rules_and_blends_are_compared_with_the_best_hand_switch(resolved):
    settings = resolved("pinn")
    settings.update(optimizers=["adam", "fuse_pv_gradient"], switch_epochs=[1, 2], thetas=[0.5])
    frame = log(
        {
            "adam": [[1, 0.5], [1, 0.4], [1, 0.6]],
            f"{SWITCH}1": [[1, 0.1], [1, 0.1], [1, 0.1]],
            f"{SWITCH}2": [[1, 0.01], [1, 0.012], [1, 0.009]],  # the best switch
            "fuse_pv_gradient": [[1, 0.01], [1, 0.011], [1, 0.01]],  # as good
            f"{summary.BLEND}0.5": [[1, 0.001], [1, 0.001], [1, 0.002]],  # better
        }
    )
    frame.loc[frame["variant"] == "fuse_pv_gradient", "switch_step"] = 10.0
    questions = summary.questions(summary.scores(frame, 30), settings).set_index("variant")
    assert questions["seeds_switched"].to_dict() == {
        "adam": 0,
        "fuse_pv_gradient": 3,
        f"{summary.BLEND}0.5": 0,
    }
    assert set(questions["reference"]) == {f"{SWITCH}2"}
    assert list(questions.index) == ["adam", "fuse_pv_gradient", f"{summary.BLEND}0.5"]
    assert questions.loc["adam", "outcome"] == "worse" and not questions.loc["adam", "as_good"]
    assert questions.loc["fuse_pv_gradient", "as_good"]
    assert questions.loc[f"{summary.BLEND}0.5", "outcome"] == "better"
    assert summary.shown(summary.scores(frame, 30)) == [
        "adam",
        "fuse_pv_gradient",
        f"{SWITCH}2",
        f"{summary.BLEND}0.5",
    ]


def test_curves_are_step_functions_of_the_budget_with_seed_ranges():
    frame = log({"adam": [[1.0, 0.5, 0.2], [0.8, 0.4, 0.1]]})
    curves = summary.on_grid(frame, "evals", np.array([0, 5, 10, 25]))
    np.testing.assert_allclose(curves["median"], [0.9, 0.9, 0.45, 0.15])
    assert curves["low"].tolist() == [0.8, 0.8, 0.4, 0.1]
    assert curves["high"].tolist() == [1.0, 1.0, 0.5, 0.2]


def test_labels_name_the_switch_step():
    assert summary.variant_label(f"{SWITCH}5", 100) == "Adam→L-BFGS at step 500"
    assert summary.variant_label(f"{summary.BLEND}0.25", 100) == "FUSE θ=0.25"
    assert summary.variant_label("fuse_pv_loss", 100) == "FUSE-PV (loss)"
