"""Paired comparisons over seeds (fuse_repro.core.statistics)."""

import math

import numpy as np
import pandas as pd
import pytest

from fuse_repro.core import statistics as S


def test_a_clear_gain_is_better_and_its_interval_brackets_the_mean():
    ours = pd.Series([0.90, 0.91, 0.92, 0.93], index=[0, 1, 2, 42])
    reference = ours - pd.Series([0.02, 0.03, 0.025, 0.035], index=[0, 1, 2, 42])
    result = S.paired(ours, reference)
    assert result.outcome == S.BETTER
    assert 0 < result.low <= result.mean <= result.high
    assert result.mean == pytest.approx(0.0275)
    assert S.paired(reference, ours).outcome == S.WORSE
    assert result == S.paired(ours, reference)  # seeded: the same interval every time


def test_a_gain_from_one_seed_out_of_three_is_no_difference():
    """The quick CNN's +0.63 points: one seed +2.0, the other two slightly negative."""
    differences = pd.Series([0.020, -0.0009, -0.0004])
    result = S.paired(differences, pd.Series([0.0, 0.0, 0.0]))
    assert result.mean > 0 and result.low < 0 < result.high
    assert result.outcome == S.NO_DIFFERENCE
    assert "3 seeds: +0.0200, -0.0009, -0.0004" in result.describe()


def test_one_seed_supports_no_verdict_and_seeds_are_paired_by_index():
    one = S.paired(pd.Series([0.8], index=[0]), pd.Series([0.7], index=[0]))
    assert one.outcome == S.ONE_SEED and math.isnan(one.low)
    assert S.verdict({one.outcome}) == S.NOT_TESTABLE
    mismatched = S.paired(pd.Series([0.8, 0.9], index=[0, 1]), pd.Series([0.7, 0.1], index=[1, 2]))
    assert mismatched.differences == (pytest.approx(0.2),)
    diverged = S.paired(pd.Series([np.nan, 0.9, 0.8]), pd.Series([0.5, 0.5, 0.5]))
    assert len(diverged.differences) == 2


def test_one_seed_is_written_without_an_interval_and_several_with_one():
    one = S.paired(pd.Series([0.8], index=[0]), pd.Series([0.7], index=[0]))
    assert S.mean_and_interval(one.mean, one.low, one.high) == "+0.1000 (1 seed)"
    assert one.describe() == "+0.1000 (1 seed)"
    assert S.mean_and_interval(-0.01, -0.02, 0.005, digits=3) == "-0.010 [-0.020, +0.005]"


def test_identical_differences_give_a_point_interval():
    result = S.paired(pd.Series([1.0, 2.0]), pd.Series([0.5, 1.5]))
    assert (result.low, result.high) == (0.5, 0.5) and result.outcome == S.BETTER


@pytest.mark.parametrize(
    "outcomes,expected",
    [
        ({S.BETTER}, S.SUPPORTED),
        ({S.BETTER, S.NO_DIFFERENCE}, S.UNDECIDED),
        ({S.BETTER, S.WORSE}, S.NOT_SUPPORTED),
        ({S.NO_DIFFERENCE}, S.UNDECIDED),
        ({S.ONE_SEED, S.BETTER}, S.NOT_TESTABLE),
    ],
)
def test_a_claim_against_several_references(outcomes, expected):
    assert S.verdict(outcomes) == expected


def test_the_interval_is_students_t_for_the_paired_mean():
    """Four seeds of the paper-scale MLP (FUSE-PV epoch minus gradient rule): a percentile
    bootstrap gave [-0.0137, -0.0037] ("worse"); the t-interval, with t(3) = 3.18, is about
    twice as wide and covers 0."""
    differences = np.array([-0.0150, -0.0124, -0.0008, -0.0067])
    result = S.paired(pd.Series(differences), pd.Series(np.zeros(4)))
    half = 3.182446305284263 * differences.std(ddof=1) / 2.0
    assert (result.low, result.high) == pytest.approx(
        (differences.mean() - half, differences.mean() + half)
    )
    assert result.low < 0 < result.high and result.outcome == S.NO_DIFFERENCE


def test_a_verdict_names_what_each_reference_contributed():
    verdict = S.explained_verdict({"Adam": S.WORSE, "SGD": S.BETTER})
    assert verdict == "not supported (worse than Adam; better than SGD)"
    assert S.explained_verdict({"Adam": S.ONE_SEED}) == S.NOT_TESTABLE  # no second reason
