"""Fixtures of the toy family's tests: the toy settings, shrunk, and Rosenbrock 2-D."""

import pytest

from fuse_repro.toy.functions import get


@pytest.fixture
def settings(resolved):
    """The quick block of params.yaml, shrunk: two functions, two starts, 120 evaluations."""
    settings = resolved("toy")
    settings.update(
        functions=[{"name": "rosenbrock", "dim": 2}, {"name": "rastrigin", "dim": 2}],
        starts=2,
        budget=120,
        noise_scales=[0.0, 1.0],
        steps_per_epoch=5,
    )
    settings["fuse"] = {"thetas": [0.0, 0.5]}
    settings["fuse_pv"] = dict(settings["fuse_pv"], switch_epoch=4, warmup_epochs=1)
    settings["ablation"] = {
        "functions": [{"name": "rosenbrock", "dim": 2}],
        "noise_scales": [0.0, 1.0],
        "selection_starts": False,
        "sweeps": {
            "switch_epoch": [0, 4],
            "theta": [0.5, 1.0],
            "grad_threshold": [0.5],
            "min_delta": [0.01],
            "history_size": [3],
        },
    }
    return settings


@pytest.fixture
def rosenbrock():
    return get("rosenbrock", 2)
