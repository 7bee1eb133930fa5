"""FUSE's L-BFGS phase on the Moré-Garbow-Hillstrom test set (benchmarks/testset_lbfgs.py):
with ``full_batch=True`` it needs at most 1.1x the closure evaluations of scipy's L-BFGS-B
(median over the problems both solve) and solves at least as many, from the standard
start and from 100x it; FUSE's default re-evaluates every step and costs more."""

import pytest

from tests.helpers import load_benchmark

testset = load_benchmark("testset_lbfgs")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def summary():
    records = testset.solve_all(
        [1.0, 100.0], budget=1500, methods=("scipy", "FUSE full batch", "FUSE default")
    )
    rows = testset.summarise(records, methods=("scipy", "FUSE full batch", "FUSE default"))
    print("\n" + testset.markdown(rows))
    return {(row["scale"], row["method"]): row for row in rows}


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_full_batch_fuse_needs_at_most_1_1x_scipys_evaluations(summary, scale):
    fuse, scipy = summary[(scale, "FUSE full batch")], summary[(scale, "scipy")]
    assert fuse["problems"] >= 20
    assert fuse["both"] >= 20
    assert fuse["median_ratio"] <= testset.RATIO_TARGET
    assert fuse["solved"] >= scipy["solved"]


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_default_fuse_pays_for_reevaluating_every_step(summary, scale):
    default, full = summary[(scale, "FUSE default")], summary[(scale, "FUSE full batch")]
    assert default["median_ratio"] > 1.3 * full["median_ratio"]
