"""The PDE problems (fuse_repro.pinn.problems): each reference solves its PDE and meets its
conditions, and the Burgers reference reproduces the published steepest slope."""

import math

import numpy as np
import pytest
import torch

from fuse_repro.pinn.problems import BURGERS_NU, DTYPE, PROBLEMS, burgers_solution


def exact_network(problem):
    """The problem's reference as a network: differentiable torch for convection and
    Helmholtz (exact formulas), numpy values for Burgers (conditions need no derivatives)."""
    if problem.name == "convection":
        return lambda z: torch.sin(z[:, 1] - 40.0 * z[:, 0])
    if problem.name == "helmholtz":
        return problem.solution
    return lambda z: torch.from_numpy(problem.solution(z.detach().double().numpy())).to(DTYPE)


def test_burgers_reference_has_the_published_steepest_slope():
    """Basdevant et al. (1986): max |u_x(t, 0)| = 152.00516, reached at t = 1.6037/π."""
    t = np.linspace(1.600, 1.607, 71) / math.pi
    h = 1e-6
    slope = (
        burgers_solution(np.stack([t, np.full_like(t, h)], 1))
        - burgers_solution(np.stack([t, np.full_like(t, -h)], 1))
    ) / (2 * h)
    steepest = np.argmax(np.abs(slope))
    assert abs(slope[steepest]) == pytest.approx(152.00516, abs=1e-4)
    assert t[steepest] * math.pi == pytest.approx(1.6037, abs=1e-3)


def test_burgers_reference_solves_the_equation_where_it_is_smooth():
    """Central differences of the reference: u_t + u u_x − ν u_xx ≈ 0 before the shock."""
    rng = np.random.default_rng(0)
    t, x, h = rng.uniform(0.05, 0.3, 50), rng.uniform(-0.9, 0.9, 50), 1e-4

    def u(dt=0.0, dx=0.0):
        return burgers_solution(np.stack([t + dt, x + dx], 1))

    u_t = (u(dt=h) - u(dt=-h)) / (2 * h)
    u_x = (u(dx=h) - u(dx=-h)) / (2 * h)
    u_xx = (u(dx=h) - 2 * u() + u(dx=-h)) / h**2
    assert np.abs(u_t + u() * u_x - BURGERS_NU * u_xx).max() < 1e-4


@pytest.mark.parametrize("name", ["convection", "helmholtz"])
def test_exact_solutions_have_zero_residual(name):
    problem = PROBLEMS[name]
    z = problem.interior(200, torch.Generator().manual_seed(0)).double().requires_grad_(True)
    residual = problem.residual(exact_network(problem), z)  # terms up to ~170 in size
    assert residual.abs().max() < 1e-9


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_the_reference_meets_every_condition_at_points_on_its_line(name):
    problem = PROBLEMS[name]
    generator = torch.Generator().manual_seed(1)
    for condition, (sample, residual) in problem.conditions.items():
        points = sample(100, generator)
        low, high = torch.tensor(problem.lower), torch.tensor(problem.upper)
        assert ((points >= low - 1e-6) & (points <= high + 1e-6)).all(), condition
        assert residual(exact_network(problem), points).abs().max() < 1e-5, condition


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_the_evaluation_grid_spans_the_box(name):
    problem = PROBLEMS[name]
    grid = problem.evaluation_grid()
    assert grid.shape == (math.prod(problem.grid), 2)
    np.testing.assert_allclose(grid.min(0), problem.lower)
    np.testing.assert_allclose(grid.max(0), problem.upper)
    assert np.isfinite(problem.solution(grid)).all()
