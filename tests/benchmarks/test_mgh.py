"""The MGH test set (benchmarks/mgh.py): dimensions, values at the published minimisers,
BFGS from the standard start reaching the tabulated optimal values, and autograd gradients
against central differences. CPU, float64, one thread."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from tests.helpers import load_benchmark

mgh = load_benchmark("mgh")

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = [p.name for p in mgh.PROBLEMS]
TABULATED = [name for name in NAMES if name not in mgh.KNOWN_MINIMISERS]

# (MGH number, n, m) written out from the paper, independently of the module.
SHAPES = {
    "rosenbrock": (1, 2, 2),
    "freudenstein_roth": (2, 2, 2),
    "powell_badly_scaled": (3, 2, 2),
    "brown_badly_scaled": (4, 2, 3),
    "beale": (5, 2, 3),
    "jennrich_sampson": (6, 2, 10),
    "helical_valley": (7, 3, 3),
    "bard": (8, 3, 15),
    "gaussian": (9, 3, 15),
    "meyer": (10, 3, 16),
    "gulf": (11, 3, 99),
    "box_3d": (12, 3, 10),
    "powell_singular": (13, 4, 4),
    "wood": (14, 4, 6),
    "kowalik_osborne": (15, 4, 11),
    "brown_dennis": (16, 4, 20),
    "osborne1": (17, 5, 33),
    "biggs_exp6": (18, 6, 13),
    "osborne2": (19, 11, 65),
    "watson_n6": (20, 6, 31),
    "watson_n9": (20, 9, 31),
    "extended_rosenbrock": (21, 10, 10),
    "extended_powell": (22, 12, 12),
    "penalty1_n4": (23, 4, 5),
    "penalty1_n10": (23, 10, 11),
    "penalty2_n4": (24, 4, 8),
    "penalty2_n10": (24, 10, 20),
    "variably_dimensioned": (25, 10, 12),
    "trigonometric": (26, 10, 10),
    "brown_almost_linear": (27, 10, 10),
    "discrete_boundary_value": (28, 10, 10),
    "discrete_integral_equation": (29, 10, 10),
    "broyden_tridiagonal": (30, 10, 10),
    "broyden_banded": (31, 10, 10),
    "linear_full_rank": (32, 10, 20),
    "linear_rank1": (33, 10, 20),
    "linear_rank1_zero": (34, 10, 20),
    "chebyquad": (35, 8, 8),
}


def _hand(name: str, x: list[float]) -> list[float]:
    """Residuals written out in plain Python, 1-based as in MGH, independently of the module,
    for the problems whose optimal value f* = 0 (or a formula) cannot catch a slip."""
    n = len(x)
    x = [0.0, *x, 0.0]  # x[1..n] as in MGH, with x[0] = x[n+1] = 0 for problems 28 and 30
    h = 1 / (n + 1)
    t = [j * h for j in range(n + 2)]
    if name == "helical_valley":
        theta = math.atan(x[2] / x[1]) / (2 * math.pi) + (0.5 if x[1] < 0 else 0.0)
        return [10 * (x[3] - 10 * theta), 10 * (math.sqrt(x[1] ** 2 + x[2] ** 2) - 1), x[3]]
    if name == "wood":
        return [
            10 * (x[2] - x[1] ** 2),
            1 - x[1],
            90**0.5 * (x[4] - x[3] ** 2),
            1 - x[3],
            10**0.5 * (x[2] + x[4] - 2),
            10**-0.5 * (x[2] - x[4]),
        ]
    if name in ("rosenbrock", "extended_rosenbrock"):
        return [
            r
            for i in range(1, n // 2 + 1)
            for r in (10 * (x[2 * i] - x[2 * i - 1] ** 2), 1 - x[2 * i - 1])
        ]
    if name in ("powell_singular", "extended_powell"):
        return [
            r
            for i in range(1, n // 4 + 1)
            for r in (
                x[4 * i - 3] + 10 * x[4 * i - 2],
                5**0.5 * (x[4 * i - 1] - x[4 * i]),
                (x[4 * i - 2] - 2 * x[4 * i - 1]) ** 2,
                10**0.5 * (x[4 * i - 3] - x[4 * i]) ** 2,
            )
        ]
    if name == "gulf":
        return [
            math.exp(-(abs(25 + (-50 * math.log(i / 100)) ** (2 / 3) - x[2]) ** x[3]) / x[1])
            - i / 100
            for i in range(1, 100)
        ]
    if name == "variably_dimensioned":
        s = sum(j * (x[j] - 1) for j in range(1, n + 1))
        return [x[j] - 1 for j in range(1, n + 1)] + [s, s**2]
    if name == "trigonometric":
        c = sum(math.cos(x[j]) for j in range(1, n + 1))
        return [n - c + i * (1 - math.cos(x[i])) - math.sin(x[i]) for i in range(1, n + 1)]
    if name == "brown_almost_linear":
        return [x[i] + sum(x[1 : n + 1]) - (n + 1) for i in range(1, n)] + [
            math.prod(x[1 : n + 1]) - 1
        ]
    if name == "discrete_boundary_value":
        return [
            2 * x[i] - x[i - 1] - x[i + 1] + h**2 * (x[i] + t[i] + 1) ** 3 / 2
            for i in range(1, n + 1)
        ]
    if name == "discrete_integral_equation":
        c = [(x[j] + t[j] + 1) ** 3 for j in range(n + 1)]
        return [
            x[i]
            + h
            * (
                (1 - t[i]) * sum(t[j] * c[j] for j in range(1, i + 1))
                + t[i] * sum((1 - t[j]) * c[j] for j in range(i + 1, n + 1))
            )
            / 2
            for i in range(1, n + 1)
        ]
    if name == "broyden_tridiagonal":
        return [(3 - 2 * x[i]) * x[i] - x[i - 1] - 2 * x[i + 1] + 1 for i in range(1, n + 1)]
    if name == "broyden_banded":
        return [
            x[i] * (2 + 5 * x[i] ** 2)
            + 1
            - sum(x[j] * (1 + x[j]) for j in range(max(1, i - 5), min(n, i + 1) + 1) if j != i)
            for i in range(1, n + 1)
        ]
    m = mgh.LINEAR_M
    if name == "linear_full_rank":
        s = sum(x[1 : n + 1])
        return [x[i] - 2 * s / m - 1 for i in range(1, n + 1)] + [-2 * s / m - 1] * (m - n)
    if name == "linear_rank1":
        return [i * sum(j * x[j] for j in range(1, n + 1)) - 1 for i in range(1, m + 1)]
    if name == "linear_rank1_zero":
        s = sum(j * x[j] for j in range(2, n))
        return [-1.0] + [(i - 1) * s - 1 for i in range(2, m)] + [-1.0]
    raise AssertionError(name)


HAND = [
    "rosenbrock",
    "helical_valley",
    "gulf",
    "powell_singular",
    "wood",
    "extended_rosenbrock",
    "extended_powell",
    "variably_dimensioned",
    "trigonometric",
    "brown_almost_linear",
    "discrete_boundary_value",
    "discrete_integral_equation",
    "broyden_tridiagonal",
    "broyden_banded",
    "linear_full_rank",
    "linear_rank1",
    "linear_rank1_zero",
]


def _close(value: float, f_star: float) -> bool:
    """Relative 1e-5, about one unit in the sixth digit MGH tabulate (1e-10 when f* = 0)."""
    return abs(value - f_star) <= (1e-5 * f_star if f_star else 1e-10)


def _bfgs(p) -> float:
    """scipy BFGS from x0 with autograd gradients and a tight tolerance; the final f."""

    def fun(z):
        x = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        f = p.f(x)
        (g,) = torch.autograd.grad(f, x)
        return f.item(), g.numpy()

    result = minimize(
        fun, p.start().numpy(), jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 5000}
    )
    return result.fun


def test_the_set_has_every_mgh_problem_once_in_number_order():
    assert len(mgh.PROBLEMS) >= 22
    assert len(set(NAMES)) == len(NAMES)
    assert sorted(NAMES) == sorted(SHAPES)
    numbers = [p.number for p in mgh.PROBLEMS]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, 36))
    assert set(mgh.KNOWN_MINIMISERS) <= set(NAMES) and set(mgh.LOCAL_MINIMA) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_value_at_x0(name):
    p = mgh.problem(name)
    number, n, m = SHAPES[name]
    x0 = p.start()
    f0 = p.f(x0)
    assert (p.number, p.n, len(p.x0), x0.shape, x0.dtype) == (number, n, n, (n,), torch.float64)
    assert p.residuals(x0).shape == (m,)
    assert f0.dtype == torch.float64 and f0.shape == ()
    assert math.isfinite(f0.item()) and f0.item() > p.f_star
    assert torch.equal(p.start(10.0), 10 * x0)
    x32 = x0.float()  # constants follow x's dtype
    assert p.f(x32).dtype == torch.float32
    assert p.f(x32).item() == pytest.approx(p.f(x32.double()).item(), rel=1e-3)


@pytest.mark.parametrize("name", HAND)
def test_f_matches_the_hand_written_formula(name):
    p = mgh.problem(name)
    generator = torch.Generator().manual_seed(0)
    for x in [p.start()] + [
        p.start() + 0.3 * torch.randn(p.n, generator=generator, dtype=torch.float64)
        for _ in range(3)
    ]:
        assert p.f(x).item() == pytest.approx(
            sum(r * r for r in _hand(name, x.tolist())), rel=1e-12
        )


@pytest.mark.parametrize("name", sorted(mgh.KNOWN_MINIMISERS))
def test_f_at_known_minimiser_is_f_star(name):
    p = mgh.problem(name)
    x_star = torch.tensor(mgh.KNOWN_MINIMISERS[name], dtype=torch.float64)
    assert x_star.shape == (p.n,)
    assert p.f(x_star).item() == pytest.approx(p.f_star, rel=1e-12, abs=1e-10)


@pytest.mark.parametrize("name", TABULATED)
def test_bfgs_from_x0_reaches_tabulated_f_star(name):
    # BFGS from x0 reaches every tabulated value here: nothing needs skipping or other starts.
    p = mgh.problem(name)
    f = _bfgs(p)
    assert _close(f, p.f_star), (f, p.f_star)


@pytest.mark.parametrize("name", sorted(mgh.LOCAL_MINIMA))
def test_bfgs_from_x0_stops_at_the_documented_local_minimum(name):
    p = mgh.problem(name)
    f = _bfgs(p)
    assert _close(f, mgh.LOCAL_MINIMA[name]), (f, mgh.LOCAL_MINIMA[name])
    assert f > p.f_star + 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_autograd_gradient_matches_central_differences_at_x0(name):
    p = mgh.problem(name)
    x0 = p.start().requires_grad_(True)
    (grad,) = torch.autograd.grad(p.f(x0), x0)
    x0 = x0.detach()
    steps = 1e-4 * x0.abs().clamp(min=1.0)  # large enough for f ~ 1e12 (Brown badly scaled)
    central = torch.stack(
        [  # fourth order, for the fast exponentials of Osborne 1
            (8 * (p.f(x0 + h * e) - p.f(x0 - h * e)) - p.f(x0 + 2 * h * e) + p.f(x0 - 2 * h * e))
            / (12 * h)
            for h, e in zip(steps, torch.eye(p.n, dtype=torch.float64), strict=True)
        ]
    )
    assert torch.isfinite(grad).all()
    np.testing.assert_allclose(
        central.numpy(), grad.numpy(), rtol=0, atol=1e-5 * grad.abs().max().item()
    )


def test_problem_lookup():
    assert mgh.problem("wood") is mgh.PROBLEMS[13]
    with pytest.raises(KeyError, match=r"rosenbrock.*chebyquad"):
        mgh.problem("no_such_problem")
