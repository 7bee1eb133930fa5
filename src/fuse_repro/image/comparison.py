"""Methods compared pairwise on the same seeds: each FUSE-PV variant against each other
method, at equal epochs, at an equal budget of closure evaluations and at an equal budget
of training seconds (:func:`fuse_repro.image.claims.at_common_budget`: the largest budget
both runs of a pair reached, each scored at its last logged row within it: an epoch's end
or a row of the ``eval_every`` cadence), by the paired
per-seed differences of test accuracy and their t-interval
(:func:`fuse_repro.core.statistics.paired`). The tuned protocol's table
(:mod:`fuse_repro.image.sweeps`, its confirmation runs) is made of these rows."""

from __future__ import annotations

import pandas as pd

from fuse_repro.core.optimizers import REGISTRY
from fuse_repro.core.statistics import paired
from fuse_repro.image.claims import at_common_budget, per_seed
from fuse_repro.image.summary import final_rows

BUDGETS = {"final epoch": None, "closure evaluations": "charged_evals", "seconds": "wall_time"}
"""Each comparison's measure: at the final epoch, or at an equal budget of one column
(closure evaluations with what a switch rule needs charged:
:func:`fuse_repro.image.runs.charged_evals`)."""


def switching(optimizers: list[str]) -> list[str]:
    """The FUSE-PV variants (hybrid optimizers with a switch rule) among ``optimizers``."""
    return [o for o in optimizers if REGISTRY[o].family == "hybrid" and REGISTRY[o].switch]


def comparison_table(log: pd.DataFrame) -> pd.DataFrame:
    """Per model, FUSE-PV variant ``ours`` and other method ``reference`` in ``log``, and
    :data:`BUDGETS` measure: the budget compared at, the mean test-accuracy difference
    ``ours − reference`` over seeds, its 95 % interval and the outcome (better, worse, no
    difference, one seed)."""
    rows = []
    for model, runs in log.groupby("model", sort=False):
        present = list(dict.fromkeys(runs["optimizer"]))
        for ours in switching(present):
            for reference in (o for o in present if o not in switching(present)):
                pair = runs[runs["optimizer"].isin([ours, reference])]
                for measure, column in BUDGETS.items():
                    if column is None:
                        scored, budget = final_rows(pair), float(pair["epoch"].max())
                    else:
                        scored, budget = at_common_budget(pair, column)
                    difference = paired(per_seed(scored, ours), per_seed(scored, reference))
                    rows.append(
                        {
                            "model": model,
                            "ours": ours,
                            "reference": reference,
                            "measure": measure,
                            "budget": budget,
                            "difference": difference.mean,
                            "low": difference.low,
                            "high": difference.high,
                            "outcome": difference.outcome,
                        }
                    )
    return pd.DataFrame(rows)
