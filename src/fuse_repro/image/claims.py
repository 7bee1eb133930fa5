"""The paper's claims about the image experiments, tested on one scale's runs.

Each claim compares FUSE-PV with references run on the same seeds (same initial weights,
same batches), by the paired per-seed differences of test accuracy and their t
interval (:mod:`fuse_repro.core.statistics`):

* *fewer gradient evaluations than SGD and Adam*: test accuracy at an equal budget of
  closure evaluations (forward+backward passes, with what a switch rule needs charged:
  :func:`fuse_repro.image.runs.charged_evals`), and separately of training seconds: the
  largest budget every compared run reached, each run scored at its last logged row within
  it (an epoch's end, or a row of the ``eval_every`` cadence where the runs have one);
* *the epoch criterion slightly outperforms the gradient and loss criteria*: final test
  accuracy, equal epochs (the paper's protocol);
* *L-BFGS after Adam improves on Adam alone*: final test accuracy, equal epochs.
"""

from __future__ import annotations

import pandas as pd

from fuse_repro.core.optimizers import LABELS
from fuse_repro.core.statistics import explained_verdict, paired
from fuse_repro.image.models import model_label
from fuse_repro.image.runs import DIVERGED
from fuse_repro.image.summary import RUN

FUSE_PV = "fuse_pv_epoch"


def at_common_budget(log: pd.DataFrame, budget: str) -> tuple[pd.DataFrame, float]:
    """Per run of ``log``, its last row (an epoch's end or a cadence row) whose ``budget``
    column (``charged_evals`` or ``wall_time``) is at most ``B``, the smallest final
    ``budget`` over the runs that did
    not diverge (the largest budget every such run reached; a diverged run stopped
    spending at its divergence, and its model there is its model at any larger budget);
    returns those rows and ``B``."""
    final = log.sort_values("epoch").groupby(RUN).tail(1)
    finished = final[final["phase"] != DIVERGED]
    common = (finished if len(finished) else final)[budget].min()
    within = log[log[budget] <= common].sort_values("epoch")
    return within.groupby(RUN).tail(1), float(common)


def per_seed(rows: pd.DataFrame, optimizer: str) -> pd.Series:
    """``test_accuracy`` of ``optimizer``'s rows, indexed by seed."""
    chosen = rows[rows["optimizer"] == optimizer]
    return chosen.set_index("seed")["test_accuracy"]


def _row(claim: str, workload: str, rows: pd.DataFrame, references: list[str], how: str) -> dict:
    """One claim on one workload: FUSE-PV against each reference in ``rows``."""
    comparisons = [paired(per_seed(rows, FUSE_PV), per_seed(rows, ref)) for ref in references]
    evidence = "; ".join(
        f"vs {LABELS[ref]}: {c.describe()}" for ref, c in zip(references, comparisons)
    )
    return {
        "claim": claim,
        "workload": workload,
        "measure": how,
        "evidence": f"test accuracy, {LABELS[FUSE_PV]} minus reference: {evidence}",
        "verdict": explained_verdict(
            {LABELS[ref]: c.outcome for ref, c in zip(references, comparisons)}
        ),
    }


def claim_rows(log: pd.DataFrame, label: str) -> list[dict]:
    """The claims tested on each model of one experiment's ``log`` (``label``: the
    dataset's name); a claim whose optimizers are not all in the log is left out."""
    rows = []
    for model, runs in log.groupby("model", sort=False):
        present = set(runs["optimizer"])
        workload = f"{label}, {model_label(model)}"
        final = runs[runs["epoch"] == runs["epoch"].max()]
        first_order = ["adam", "sgd"]
        if {FUSE_PV, *first_order} <= present:
            compared = runs[runs["optimizer"].isin([FUSE_PV, *first_order])]
            for budget, name, unit in (
                ("charged_evals", "closure evaluations", "{:,.0f}"),
                ("wall_time", "training seconds", "{:,.1f}"),
            ):
                at_budget, common = at_common_budget(compared, budget)
                rows.append(
                    _row(
                        "FUSE-PV reaches a given accuracy with fewer gradient evaluations "
                        "than SGD and Adam",
                        workload,
                        at_budget,
                        first_order,
                        f"equal {name} ({unit.format(common)})",
                    )
                )
        rules = [f"fuse_pv_{rule}" for rule in ("gradient", "loss")]
        if {FUSE_PV, *rules} <= present:
            rows.append(
                _row(
                    "The epoch criterion slightly outperforms the gradient and loss criteria",
                    workload,
                    final,
                    rules,
                    "equal epochs (final)",
                )
            )
        if {FUSE_PV, "adam"} <= present:
            rows.append(
                _row(
                    "L-BFGS after Adam improves on Adam alone",
                    workload,
                    final,
                    ["adam"],
                    "equal epochs (final)",
                )
            )
    return rows
