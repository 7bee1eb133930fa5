"""The paper's claims on image runs (fuse_repro.image.claims), on hand-made logs."""

import pandas as pd
import pytest

from fuse_repro.core.statistics import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, UNDECIDED
from fuse_repro.image import claims
from fuse_repro.image.runs import DIVERGED


def log(
    curves: dict[str, list[tuple[int, float, float]]], seeds=(0, 1, 2), diverged=()
) -> pd.DataFrame:
    """Rows of ``optimizer -> [(closure_evals, wall_time, test_accuracy) per epoch]``, the
    same for every seed but shifted by seed * 0.001 (seeds vary a little); nothing charged
    beyond the closure evaluations (no loss rule); the last epoch of the ``diverged``
    optimizers has phase ``diverged``."""
    rows = [
        dict(
            model="cnn",
            optimizer=optimizer,
            seed=seed,
            epoch=epoch,
            closure_evals=evals,
            wall_time=wall,
            test_accuracy=accuracy + seed * 0.001 * (1 + (optimizer == "adam")),
            phase=DIVERGED if optimizer in diverged and epoch == len(epochs) - 1 else "trained",
        )
        for optimizer, epochs in curves.items()
        for seed in seeds
        for epoch, (evals, wall, accuracy) in enumerate(epochs)
    ]
    frame = pd.DataFrame(rows)
    return frame.assign(charged_evals=frame["closure_evals"])


def test_equal_budgets_score_each_run_at_its_last_epoch_within_the_common_budget():
    frame = log(
        {"adam": [(0, 0, 0.1), (10, 1, 0.5), (20, 2, 0.6)], "lbfgs": [(0, 0, 0.1), (40, 9, 0.7)]}
    )
    rows, common = claims.at_common_budget(frame, "closure_evals")
    assert common == 20
    by = rows.set_index(["optimizer", "seed"])["closure_evals"]
    assert by[("adam", 0)] == 20 and by[("lbfgs", 0)] == 0  # its epoch at 40 evals is beyond


def test_a_diverged_run_does_not_shrink_the_common_budget():
    """L-BFGS diverged after 10 evaluations: its last row (a copy of the divergence epoch)
    stands for it at the budget of the runs that finished."""
    frame = log(
        {"adam": [(0, 0, 0.1), (10, 1, 0.5), (20, 2, 0.6)], "lbfgs": [(0, 0, 0.1), (10, 9, 0.1)]},
        diverged=["lbfgs"],
    )
    rows, common = claims.at_common_budget(frame, "closure_evals")
    assert common == 20
    by = rows.set_index(["optimizer", "seed"])["epoch"]
    assert by[("adam", 0)] == 2 and by[("lbfgs", 0)] == 1


def test_more_passes_for_the_same_accuracy_is_not_fewer_evaluations():
    """FUSE-PV ends higher at equal epochs but at three times the passes: at equal passes
    Adam is ahead, so the evaluations claim is not supported while the equal-epochs one is."""
    frame = log(
        {
            "adam": [(0, 0, 0.1), (10, 1, 0.70), (20, 2, 0.75), (30, 3, 0.78)],
            "sgd": [(0, 0, 0.1), (10, 1, 0.30), (20, 2, 0.40), (30, 3, 0.45)],
            "fuse_pv_epoch": [(0, 0, 0.1), (10, 1, 0.70), (50, 5, 0.76), (90, 9, 0.80)],
            "fuse_pv_gradient": [(0, 0, 0.1), (10, 1, 0.70), (20, 2, 0.75), (30, 3, 0.78)],
            "fuse_pv_loss": [(0, 0, 0.1), (10, 1, 0.70), (20, 2, 0.75), (30, 3, 0.78)],
        }
    )
    rows = {
        (r["claim"][:12], r["measure"].split(" (")[0]): r for r in claims.claim_rows(frame, "X")
    }
    assert rows[("FUSE-PV reac", "equal closure evaluations")]["verdict"].startswith(
        NOT_SUPPORTED + " ("
    )
    assert rows[("FUSE-PV reac", "equal training seconds")]["verdict"].startswith(
        NOT_SUPPORTED + " ("
    )
    assert rows[("L-BFGS after", "equal epochs")]["verdict"].startswith(SUPPORTED + " (")
    assert rows[("The epoch cr", "equal epochs")]["verdict"].startswith(SUPPORTED + " (")
    assert "vs Adam: +0.0" in rows[("L-BFGS after", "equal epochs")]["evidence"]
    assert rows[("FUSE-PV reac", "equal closure evaluations")]["measure"] == (
        "equal closure evaluations (30)"
    )


def test_one_seed_is_not_testable_and_a_missing_optimizer_leaves_its_claim_out():
    frame = log(
        {"adam": [(0, 0, 0.1), (10, 1, 0.5)], "fuse_pv_epoch": [(0, 0, 0.1), (10, 1, 0.6)]},
        seeds=(0,),
    )
    (row,) = claims.claim_rows(frame, "X")
    assert row["claim"] == "L-BFGS after Adam improves on Adam alone"
    assert row["verdict"] == NOT_TESTABLE and "(1 seed)" in row["evidence"]


def test_a_tie_within_the_seeds_spread_is_no_difference():
    frame = log(
        {"adam": [(0, 0, 0.1), (10, 1, 0.5)], "fuse_pv_epoch": [(0, 0, 0.1), (10, 1, 0.5015)]}
    )
    (row,) = claims.claim_rows(frame, "X")
    assert row["verdict"].startswith(UNDECIDED + " (")
    assert pytest.approx(0.0005) == float(row["evidence"].split("vs Adam: ")[1].split()[0])
