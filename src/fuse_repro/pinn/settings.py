"""The settings of the physics-informed study (the ``pinn`` block of ``params.yaml``): its
schema and the checks between keys."""

from __future__ import annotations

from typing import Any

from fuse_repro.core.optimizers import names, settings_schema
from fuse_repro.core.schema import POSITIVE_INT, Choice, ListOf, Number, Or, ParamsError
from fuse_repro.pinn.problems import PROBLEMS

SCHEMA = {
    "problems": ListOf(Choice(tuple(PROBLEMS))),
    "seeds": ListOf(Number(integer=True, low=0)),
    "workers": Or("auto", POSITIVE_INT),
    "width": POSITIVE_INT,
    "depth": POSITIVE_INT,
    "collocation": POSITIVE_INT,
    "condition_points": POSITIVE_INT,
    "budget": POSITIVE_INT,
    "log_every": POSITIVE_INT,
    "steps_per_epoch": POSITIVE_INT,
    "optimizers": ListOf(Choice(names("pinn"))),
    "switch_epochs": ListOf(POSITIVE_INT),
    "thetas": ListOf(Number(low=0.0, high=1.0, positive=True)),
    **settings_schema("pinn"),
}


def check_relations(block: dict[str, Any], key: str) -> None:
    """Every hand-picked switch comes before the budget ends (an Adam step costs one
    closure evaluation), and rows are logged within it."""
    steps = block["budget"]
    for i, epochs in enumerate(block["switch_epochs"]):
        if epochs * block["steps_per_epoch"] >= steps:
            raise ParamsError(
                f"{key}.switch_epochs[{i}]: {epochs} epochs of {block['steps_per_epoch']} "
                f"steps leave nothing of the budget ({steps} closure evaluations) to L-BFGS"
            )
    if block["log_every"] > steps:
        raise ParamsError(
            f"{key}.log_every: {block['log_every']} is beyond the budget ({steps} evaluations)"
        )
