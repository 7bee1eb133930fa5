"""Fixtures of the physics-informed study's tests: its quick settings, shrunk."""

import pytest


@pytest.fixture
def settings(resolved):
    """The quick block of params.yaml, shrunk: small networks and point sets, 60
    evaluations, two seeds, one hand switch and one blend."""
    settings = resolved("pinn")
    settings.update(
        width=8,
        depth=2,
        collocation=64,
        condition_points=16,
        budget=60,
        log_every=10,
        steps_per_epoch=10,
        seeds=[0, 1],
        switch_epochs=[2, 3],
        thetas=[0.5],
        workers=1,
    )
    return settings
