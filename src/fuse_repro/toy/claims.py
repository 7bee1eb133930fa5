"""The paper's claims about the test functions, tested on the toy study's comparison.

Each comparison is one function × noise scale, its cells (all starts) ordered by
:func:`~fuse_repro.toy.summary.ranked` (success rate, then median final gap, then median
evaluations to the target; :func:`~fuse_repro.toy.summary.equivalent` cells tie). FUSE-PV
against a reference wins, loses or ties each comparison; a two-sided sign test over the
comparisons it does not tie (``scipy.stats.binomtest``, level 0.05) decides the outcome.

* *the epoch criterion slightly outperforms the gradient and loss criteria*: FUSE-PV
  (epoch) against FUSE-PV (gradient) and FUSE-PV (loss);
* *L-BFGS after Adam improves on Adam alone*: FUSE-PV (epoch) against Adam.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import scipy.stats

from fuse_repro.core.optimizers import LABELS
from fuse_repro.core.statistics import BETTER, NO_DIFFERENCE, WORSE, explained_verdict
from fuse_repro.toy.summary import equivalent, ranked

LEVEL = 0.05
FUSE_PV = "fuse_pv_epoch"


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


def sign_test(comparison: pd.DataFrame, ours: str, reference: str, target_gap: float) -> SignTest:
    """``ours`` against ``reference`` over every function × noise scale of
    ``comparison`` (rows of :func:`~fuse_repro.toy.summary.cell_summary`) holding both."""
    wins = losses = ties = 0
    for _, cells in comparison.groupby(["function", "noise"], sort=False):
        pair = cells[cells["variant"].isin([ours, reference])]
        if len(pair) < 2:
            continue
        order = ranked(pair, target_gap)
        if equivalent(order.iloc[0], order.iloc[1], target_gap):
            ties += 1
        elif order.iloc[0]["variant"] == ours:
            wins += 1
        else:
            losses += 1
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
