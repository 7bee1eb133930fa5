"""The paper's claims about the test functions, tested on the toy study's comparison.

Each comparison is one function × noise scale: FUSE-PV's cell (all starts) against the
reference's wins, loses or ties (:func:`compare`: the success rate first, where the two
differ by more than chance, then the median final gap, then the median evaluations to the
target); a two-sided sign test over the comparisons it does not tie
(``scipy.stats.binomtest``, level 0.05) decides the outcome.

* *the epoch criterion slightly outperforms the gradient and loss criteria*: FUSE-PV
  (epoch) against FUSE-PV (gradient) and FUSE-PV (loss);
* *L-BFGS after Adam improves on Adam alone*: FUSE-PV (epoch) against Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from fuse_repro.core.optimizers import LABELS
from fuse_repro.core.statistics import BETTER, NO_DIFFERENCE, WORSE, explained_verdict

LEVEL = 0.05
FUSE_PV = "fuse_pv_epoch"
CLOSE = 0.1
"""Median gaps or evaluations within this relative difference tie."""


@dataclass(frozen=True)
class SignTest:
    """Comparisons won, lost and tied by one variant against another, and the sign test's
    two-sided p-value over the decided ones (1 when none is decided)."""

    wins: int
    losses: int
    ties: int
    p: float

    @property
    def outcome(self) -> str:
        """As :attr:`fuse_repro.core.statistics.Paired.outcome`."""
        if self.p >= LEVEL:
            return NO_DIFFERENCE
        return BETTER if self.wins > self.losses else WORSE

    def describe(self, reference: str) -> str:
        return (
            f"vs {LABELS[reference]}: {self.wins} wins, {self.losses} losses, {self.ties} ties "
            f"(sign test p = {self.p:.3g})"
        )


def compare(a: pd.Series, b: pd.Series, target_gap: float) -> int:
    """+1 when cell ``a`` (a row of :func:`~fuse_repro.toy.summary.cell_summary`) beats
    cell ``b``, −1 when it loses, 0 for a tie. First the success rate, but only where the
    two differ by more than chance: Fisher's exact test on each cell's successes out of its
    starts, two-sided, at :data:`LEVEL` (2 % against 0 % success over 100 starts is a tie,
    not a win). Then the median final gap (gaps at or below ``target_gap`` count as equal:
    those runs stopped there), then the median evaluations to the target (none: infinite);
    each within :data:`CLOSE` a tie."""
    successes = [round(c.success_rate * c.starts) for c in (a, b)]
    table = [[s, c.starts - s] for s, c in zip(successes, (a, b))]
    if scipy.stats.fisher_exact(table).pvalue < LEVEL:
        return 1 if a.success_rate > b.success_rate else -1
    for key, floor in (("median_final_gap", target_gap), ("median_evals_to_target", 0.0)):
        x, y = (math.inf if pd.isna(c[key]) else max(c[key], floor) for c in (a, b))
        if x == y or (math.isfinite(x) and math.isfinite(y) and np.isclose(x, y, rtol=CLOSE)):
            continue
        return 1 if x < y else -1
    return 0


def sign_test(comparison: pd.DataFrame, ours: str, reference: str, target_gap: float) -> SignTest:
    """``ours`` against ``reference`` over every function × noise scale of
    ``comparison`` (rows of :func:`~fuse_repro.toy.summary.cell_summary`) holding both."""
    wins = losses = ties = 0
    for _, cells in comparison.groupby(["function", "noise"], sort=False):
        by_variant = cells.set_index("variant")
        if not {ours, reference} <= set(by_variant.index):
            continue
        result = compare(by_variant.loc[ours], by_variant.loc[reference], target_gap)
        wins, losses, ties = wins + (result > 0), losses + (result < 0), ties + (result == 0)
    decided = wins + losses
    p = scipy.stats.binomtest(wins, decided).pvalue if decided else 1.0
    return SignTest(wins, losses, ties, float(p))


def claim_rows(comparison: pd.DataFrame, target_gap: float, workload: str) -> list[dict]:
    """The claims tested on one study of the test functions, named ``workload`` (a claim
    whose variants are missing is left out)."""
    present = set(comparison["variant"])
    claims = (
        (
            "The epoch criterion slightly outperforms the gradient and loss criteria",
            ["fuse_pv_gradient", "fuse_pv_loss"],
        ),
        ("L-BFGS after Adam improves on Adam alone", ["adam"]),
    )
    rows = []
    for claim, references in claims:
        if not {FUSE_PV, *references} <= present:
            continue
        tests = [sign_test(comparison, FUSE_PV, ref, target_gap) for ref in references]
        rows.append(
            {
                "claim": claim,
                "workload": workload,
                "measure": "function × noise comparisons (success, final gap, evaluations)",
                "evidence": f"{LABELS[FUSE_PV]}: "
                + "; ".join(t.describe(ref) for ref, t in zip(references, tests)),
                "verdict": explained_verdict(
                    {LABELS[ref]: t.outcome for ref, t in zip(references, tests)}
                ),
            }
        )
    return rows
