"""Paired comparisons over seeds, and the verdict they support.

Two methods run on the same seeds see the same initial weights and the same batches, so
their per-seed differences ``d_s = ours_s − reference_s`` are paired. The mean difference
:math:`\\bar d` over the :math:`n` seeds gets Student's t confidence interval
:math:`\\bar d \\pm t_{n-1, 0.975}\\, s_d / \\sqrt n` (``scipy.stats.ttest_1samp``), the
paired t-interval; an interval that covers 0 is *no difference*, and fewer than two seeds
support no verdict at all (Schmidt, Schneider & Hennig, ICML 2021, compare optimizers the
same way: over seeds, never from one run). Not a bootstrap: with the 2–10 seeds these
experiments have, a percentile bootstrap treats the seeds' spread as known and its
interval is too narrow (with 4 seeds about 0.53 of the t-interval's width, as
:math:`1.96\\sqrt{(n-1)/n}` against :math:`t_{3, 0.975} = 3.18`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

CONFIDENCE = 0.95

BETTER, WORSE, NO_DIFFERENCE, ONE_SEED = "better", "worse", "no difference", "one seed"
"""Outcomes of one paired comparison (:attr:`Paired.outcome`)."""
SUPPORTED, NOT_SUPPORTED, UNDECIDED = "supported", "not supported", "no difference"
NOT_TESTABLE = "not testable here (one seed)"
"""Verdicts on a claim, from the outcomes of its comparisons (:func:`verdict`)."""


@dataclass(frozen=True)
class Paired:
    """Per-seed differences ``ours − reference`` (larger is better for ``ours``) and the
    :data:`CONFIDENCE` interval of their mean (NaN with fewer than two seeds)."""

    differences: tuple[float, ...]
    low: float
    high: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.differences)) if self.differences else math.nan

    @property
    def outcome(self) -> str:
        """:data:`BETTER` or :data:`WORSE` when the interval excludes 0, else
        :data:`NO_DIFFERENCE`; :data:`ONE_SEED` when there is no interval."""
        if len(self.differences) < 2:
            return ONE_SEED
        if self.low > 0:
            return BETTER
        if self.high < 0:
            return WORSE
        return NO_DIFFERENCE

    def describe(self, digits: int = 4) -> str:
        """``+0.0123 [−0.0040, +0.0300] (3 seeds: +0.01, …)``."""
        mean = mean_and_interval(self.mean, self.low, self.high, digits)
        if len(self.differences) < 2:
            return mean
        values = ", ".join(f"{d:+.{digits}f}" for d in self.differences)
        return f"{mean} ({len(self.differences)} seeds: {values})"


def mean_and_interval(mean: float, low: float, high: float, digits: int = 4) -> str:
    """A mean difference and its interval, ``+0.0123 [−0.0040, +0.0300]``; with no
    interval (NaN bounds: one seed) ``+0.0123 (1 seed)``."""
    if math.isnan(low) or math.isnan(high):
        return f"{mean:+.{digits}f} (1 seed)"
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def paired(ours: pd.Series, reference: pd.Series) -> Paired:
    """The paired comparison of two per-seed series (indexed by seed; seeds missing from
    either, or not finite in either, are left out)."""
    both = pd.concat([ours.rename("ours"), reference.rename("reference")], axis=1)
    both = both[np.isfinite(both).all(axis=1)].sort_index()
    differences = (both["ours"] - both["reference"]).to_numpy(dtype=float)
    if len(differences) < 2:
        low = high = math.nan
    elif np.ptp(differences) == 0.0:  # every seed the same: the interval is that point
        low = high = float(differences[0])
    else:
        test = scipy.stats.ttest_1samp(differences, 0.0)
        interval = test.confidence_interval(confidence_level=CONFIDENCE)
        low, high = float(interval.low), float(interval.high)
    return Paired(tuple(float(d) for d in differences), low, high)


def explained_verdict(outcomes: dict[str, str]) -> str:
    """:func:`verdict` of the outcomes against each reference (``{label: outcome}``),
    followed by each of them: ``not supported (worse than Adam; better than SGD)``."""
    phrases = {
        BETTER: "better than",
        WORSE: "worse than",
        NO_DIFFERENCE: "no difference from",
    }
    decided = verdict(set(outcomes.values()))
    if decided == NOT_TESTABLE:  # it names its reason already
        return decided
    reasons = "; ".join(f"{phrases[o]} {label}" for label, o in outcomes.items())
    return f"{decided} ({reasons})"


def verdict(outcomes: set[str]) -> str:
    """A claim that a method beats every reference, from the outcomes against each:
    supported when better than all, not supported when worse than one, no difference
    otherwise; not testable with one seed."""
    if ONE_SEED in outcomes:
        return NOT_TESTABLE
    if WORSE in outcomes:
        return NOT_SUPPORTED
    return SUPPORTED if outcomes == {BETTER} else UNDECIDED
