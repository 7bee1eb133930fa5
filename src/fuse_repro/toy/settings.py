"""The settings of the test-function studies (the ``toy`` and ``toy_finite_sum`` blocks of
``params.yaml``): their schema and the checks that need the functions."""

from __future__ import annotations

from typing import Any

from fuse_repro.core.optimizers import names, settings_schema
from fuse_repro.core.schema import (
    POSITIVE_INT,
    Boolean,
    Choice,
    ListOf,
    Number,
    Or,
    ParamsError,
    Record,
)
from fuse_repro.toy.functions import NAMES as FUNCTION_NAMES
from fuse_repro.toy.functions import get as get_function

STUDIES = {"toy": "test functions", "toy_finite_sum": "test functions, finite sums"}
"""The experiments of the test-function family (blocks of params.yaml, one notebook,
:file:`notebooks/toy.ipynb`), each with the workload name its claims carry: the paper's
ablation with gradient noise, and the same study on finite sums."""
TEST_FUNCTION = Record({"name": Choice(FUNCTION_NAMES), "dim": Number(integer=True, low=1)})
NOISE = Number(low=0.0)
FINITE_SUM = Record(
    {
        "terms": Number(integer=True, low=2),
        "batch": POSITIVE_INT,
        "cycles": Number(low=0.0, positive=True),
    }
)
"""A finite-sum noise model (:class:`~fuse_repro.toy.functions.FiniteSumObjective`)."""
SCHEMA = {
    "functions": ListOf(TEST_FUNCTION),
    "starts": POSITIVE_INT,
    "seed": Number(integer=True, low=0),
    "workers": Or("auto", POSITIVE_INT),
    "noise_model": Or("tilt", FINITE_SUM),
    "noise_scales": ListOf(NOISE),
    "budget": POSITIVE_INT,
    "target_gap": Number(low=0.0, positive=True),
    "success_tol": Number(low=0.0, positive=True),
    "steps_per_epoch": POSITIVE_INT,
    "optimizers": ListOf(Choice(names("toy"))),
    **settings_schema("toy"),
    "fuse": {"thetas": ListOf(Number(low=0.0, high=1.0))},  # plain FUSE: one run per theta
    "ablation": {
        "functions": ListOf(TEST_FUNCTION),
        "noise_scales": ListOf(NOISE),
        "selection_starts": Boolean(),
        "sweeps": {
            "switch_epoch": ListOf(Number(integer=True, low=0)),
            "theta": ListOf(Number(low=0.0, high=1.0)),
            "grad_threshold": ListOf(Number(low=0.0, positive=True)),
            "min_delta": ListOf(Number(low=0.0, high=1.0)),
            "history_size": ListOf(POSITIVE_INT),
        },
    },
}


def check_relations(block: dict[str, Any], key: str) -> None:
    """Every test function exists in the dimension asked for; a finite sum has an even
    number of terms (they come in cancelling pairs) and samples fewer than all."""
    model = block["noise_model"]
    if model != "tilt" and (model["terms"] % 2 or model["batch"] >= model["terms"]):
        raise ParamsError(
            f"{key}.noise_model: needs an even number of terms and a batch smaller than "
            f"them, got terms {model['terms']}, batch {model['batch']}"
        )
    for where, specs in (
        ("functions", block["functions"]),
        ("ablation.functions", block["ablation"]["functions"]),
    ):
        for i, spec in enumerate(specs):
            try:
                get_function(spec["name"], spec["dim"])
            except ValueError as error:
                raise ParamsError(f"{key}.{where}[{i}]: {error}") from None
