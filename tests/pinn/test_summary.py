"""The physics-informed study's summaries (fuse_repro.pinn.summary) on hand-made logs."""

import math

import numpy as np
import pandas as pd
import pytest

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
    settings.update(
        optimizers=["adam", "fuse_pv_gradient", "fuse_pv_loss"], switch_epochs=[1, 2], thetas=[0.5]
    )
    frame = log(
        {
            "adam": [[1, 0.5], [1, 0.4], [1, 0.6]],
            f"{SWITCH}1": [[1, 0.1], [1, 0.1], [1, 0.1]],
            f"{SWITCH}2": [[1, 0.01], [1, 0.012], [1, 0.009]],  # the best switch
            "fuse_pv_gradient": [[1, 0.01], [1, 0.012], [1, 0.0095]],  # as good
            "fuse_pv_loss": [[1, 0.001], [1, 0.1], [1, 0.01]],  # spread: undecided
            f"{summary.BLEND}0.5": [[1, 0.001], [1, 0.001], [1, 0.002]],  # better
        }
    )
    frame.loc[frame["variant"].str.startswith("fuse_pv_"), "switch_step"] = 10.0
    questions = summary.questions(summary.scores(frame, 30), settings).set_index("variant")
    assert questions["seeds_switched"].to_dict() == {
        "adam": 0,
        "fuse_pv_gradient": 3,
        "fuse_pv_loss": 3,
        f"{summary.BLEND}0.5": 0,
    }
    assert set(questions["reference"]) == {f"{SWITCH}2"}
    assert list(questions.index) == [
        "adam",
        "fuse_pv_gradient",
        "fuse_pv_loss",
        f"{summary.BLEND}0.5",
    ]
    assert questions.loc["adam", "outcome"] == "worse"
    assert questions["as_good"].to_dict() == {
        "adam": summary.WORSE_THAN,  # 1.6 decades worse, the whole interval below -0.1
        "fuse_pv_gradient": summary.AS_GOOD,  # within [-0.04, +0.02]: above -0.1
        "fuse_pv_loss": summary.UNDECIDED,  # [-1.4, +1.5]: straddles the margin
        f"{summary.BLEND}0.5": summary.AS_GOOD,
    }
    best_switch = 10 ** np.mean(np.log10([0.01, 0.012, 0.009]))
    assert questions["reference_error"].to_numpy() == pytest.approx(best_switch)
    assert questions.loc[f"{summary.BLEND}0.5", "outcome"] == "better"
    assert summary.shown(summary.scores(frame, 30)) == [
        "adam",
        "fuse_pv_gradient",
        "fuse_pv_loss",
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
