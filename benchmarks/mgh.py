"""The unconstrained test problems of Moré, Garbow & Hillstrom (MGH), in PyTorch, float64.

J. J. Moré, B. S. Garbow, K. E. Hillstrom, "Testing Unconstrained Optimization Software",
ACM Transactions on Mathematical Software 7(1):17-41, 1981.

Every MGH problem is a sum of squares ``f(x) = sum_i r_i(x)^2`` (no factor 1/2). Each problem
here carries MGH's standard starting point ``x0`` (MGH also suggest ``10 * x0`` and
``100 * x0``: :meth:`Problem.start`) and MGH's tabulated optimal value ``f_star``. Residuals are
written with torch ops on a tensor of shape ``(n,)``, so autograd gives exact gradients; their
constants follow the dtype and device of ``x``. All 35 MGH problems are here; the ones MGH
define for any ``n`` have a fixed ``n`` (10; 12 for extended Powell, whose n is a multiple of
4; or the ``n`` MGH tabulate ``f_star`` for), and Watson, Penalty I and Penalty II appear once
per tabulated ``n``.

Problems with several minima (MGH give each value): the ``f_star`` recorded is the smallest,
the one MGH report as the minimum, and each docstring names the others; :data:`LOCAL_MINIMA`
holds those where BFGS from ``x0`` stops. Where the minimiser is known in closed form,
:data:`KNOWN_MINIMISERS` gives it, so that ``f(x*) == f_star``.

In the docstrings ``x1, ..., xn`` are MGH's 1-based variables and ``i = 1, ..., m`` indexes
the residuals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor


class Problem(NamedTuple):
    """One MGH problem: ``f(x) = sum(residuals(x)**2)``, start ``x0``, optimal value ``f_star``."""

    name: str
    number: int
    x0: tuple[float, ...]
    f_star: float
    residuals: Callable[[Tensor], Tensor]

    @property
    def n(self) -> int:
        """The number of variables."""
        return len(self.x0)

    def f(self, x: Tensor) -> Tensor:
        """The objective: the sum of the squared residuals, a scalar in ``x``'s dtype."""
        return self.residuals(x).square().sum()

    def start(self, scale: float = 1.0) -> Tensor:
        """``scale * x0`` as a float64 tensor; MGH use ``scale`` in (1, 10, 100)."""
        return scale * torch.tensor(self.x0, dtype=torch.float64)


def _index(x: Tensor, m: int) -> Tensor:
    """``i = 1, ..., m`` as a tensor in ``x``'s dtype and device."""
    return torch.arange(1, m + 1, dtype=x.dtype, device=x.device)


def _data(x: Tensor, values: tuple[float, ...]) -> Tensor:
    """Tabulated data as a tensor in ``x``'s dtype and device."""
    return torch.tensor(values, dtype=x.dtype, device=x.device)


def _pad(x: Tensor) -> Tensor:
    """``(x0, x1, ..., xn, x(n+1))`` with MGH's boundary values ``x0 = x(n+1) = 0``."""
    return torch.nn.functional.pad(x, (1, 1))


def _mesh(n: int) -> tuple[float, ...]:
    """``tj * (tj - 1)`` with ``tj = j / (n + 1)``: the start of MGH problems 28 and 29."""
    return tuple(j / (n + 1) * (j / (n + 1) - 1) for j in range(1, n + 1))


def extended_rosenbrock(x: Tensor) -> Tensor:
    """MGH 21 (and, for n = 2, MGH 1 Rosenbrock), n even, m = n:
    r(2i-1) = 10 (x(2i) - x(2i-1)^2), r(2i) = 1 - x(2i-1). f* = 0 at (1, ..., 1)."""
    odd, even = x[0::2], x[1::2]
    return torch.cat([10 * (even - odd**2), 1 - odd])


def freudenstein_roth(x: Tensor) -> Tensor:
    """MGH 2, n = m = 2: r1 = -13 + x1 + ((5 - x2) x2 - 2) x2,
    r2 = -29 + x1 + ((x2 + 1) x2 - 14) x2. f* = 0 at (5, 4); MGH also list the local minimum
    f = 48.9842... at (11.41..., -0.8968...), where descent methods from x0 often stop."""
    x1, x2 = x.unbind()
    return torch.stack([-13 + x1 + ((5 - x2) * x2 - 2) * x2, -29 + x1 + ((x2 + 1) * x2 - 14) * x2])


def powell_badly_scaled(x: Tensor) -> Tensor:
    """MGH 3, n = m = 2: r1 = 10^4 x1 x2 - 1, r2 = exp(-x1) + exp(-x2) - 1.0001.
    f* = 0 at (1.098...e-5, 9.106...)."""
    x1, x2 = x.unbind()
    return torch.stack([1e4 * x1 * x2 - 1, torch.exp(-x1) + torch.exp(-x2) - 1.0001])


def brown_badly_scaled(x: Tensor) -> Tensor:
    """MGH 4, n = 2, m = 3: r1 = x1 - 10^6, r2 = x2 - 2e-6, r3 = x1 x2 - 2.
    f* = 0 at (1e6, 2e-6)."""
    x1, x2 = x.unbind()
    return torch.stack([x1 - 1e6, x2 - 2e-6, x1 * x2 - 2])


def beale(x: Tensor) -> Tensor:
    """MGH 5, n = 2, m = 3: r(i) = y(i) - x1 (1 - x2^i), y = (1.5, 2.25, 2.625).
    f* = 0 at (3, 0.5)."""
    x1, x2 = x.unbind()
    return _data(x, (1.5, 2.25, 2.625)) - x1 * (1 - x2 ** _index(x, 3))


def jennrich_sampson(x: Tensor) -> Tensor:
    """MGH 6, n = 2, m = 10: r(i) = 2 + 2i - (exp(i x1) + exp(i x2)).
    f* = 124.362 at x1 = x2 = 0.2578 (MGH's value for m = 10)."""
    x1, x2 = x.unbind()
    i = _index(x, 10)
    return 2 + 2 * i - (torch.exp(i * x1) + torch.exp(i * x2))


def helical_valley(x: Tensor) -> Tensor:
    """MGH 7, n = m = 3: r1 = 10 (x3 - 10 theta(x1, x2)), r2 = 10 (sqrt(x1^2 + x2^2) - 1),
    r3 = x3, with 2 pi theta = arctan(x2 / x1), plus pi when x1 < 0 (MGH's definition, not
    atan2). f* = 0 at (1, 0, 0)."""
    x1, x2, x3 = x.unbind()
    theta = torch.atan(x2 / x1) / (2 * math.pi) + 0.5 * (x1 < 0).to(x.dtype)
    return torch.stack([10 * (x3 - 10 * theta), 10 * (torch.hypot(x1, x2) - 1), x3])


def bard(x: Tensor) -> Tensor:
    """MGH 8, n = 3, m = 15: r(i) = y(i) - (x1 + u(i) / (v(i) x2 + w(i) x3)), u = i, v = 16 - i,
    w = min(u, v). f* = 8.21487e-3; MGH also list f = 17.4286... at (0.8406..., -inf, -inf)."""
    x1, x2, x3 = x.unbind()
    u = _index(x, 15)
    v = 16 - u
    y = (0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39)
    return _data(x, y) - (x1 + u / (v * x2 + torch.minimum(u, v) * x3))


def gaussian(x: Tensor) -> Tensor:
    """MGH 9, n = 3, m = 15: r(i) = x1 exp(-x2 (t(i) - x3)^2 / 2) - y(i), t(i) = (8 - i) / 2,
    y symmetric about i = 8. f* = 1.12793e-8."""
    x1, x2, x3 = x.unbind()
    t = (8 - _index(x, 15)) / 2
    half = (0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521)
    y = _data(x, (*half, 0.3989, *half[::-1]))
    return x1 * torch.exp(-x2 * (t - x3) ** 2 / 2) - y


def meyer(x: Tensor) -> Tensor:
    """MGH 10, n = 3, m = 16: r(i) = x1 exp(x2 / (t(i) + x3)) - y(i), t(i) = 45 + 5i.
    f* = 87.9458."""
    x1, x2, x3 = x.unbind()
    t = 45 + 5 * _index(x, 16)
    y = (
        34780,
        28610,
        23650,
        19630,
        16370,
        13720,
        11540,
        9744,
        8261,
        7030,
        6005,
        5147,
        4427,
        3820,
        3307,
        2872,
    )
    return x1 * torch.exp(x2 / (t + x3)) - _data(x, y)


def gulf(x: Tensor) -> Tensor:
    """MGH 11, n = 3, m = 99 (MGH: 3 <= m <= 100; 99 in their Fortran test code):
    r(i) = exp(-|y(i) - x2|^x3 / x1) - t(i), t(i) = i / 100, y(i) = 25 + (-50 ln t(i))^(2/3).
    f* = 0 at (50, 25, 1.5). MGH print "|y(i) m i x2|", a misprint for |y(i) - x2| (the minus
    makes f(50, 25, 1.5) = 0)."""
    x1, x2, x3 = x.unbind()
    t = _index(x, 99) / 100
    y = 25 + (-50 * torch.log(t)) ** (2 / 3)
    return torch.exp(-((y - x2).abs() ** x3) / x1) - t


def box_3d(x: Tensor) -> Tensor:
    """MGH 12, n = 3, m = 10 (MGH: m >= 3): r(i) = exp(-t x1) - exp(-t x2) - x3 (exp(-t)
    - exp(-10 t)), t = i / 10. f* = 0 at (1, 10, 1), also at (10, 1, -1) and wherever
    x1 = x2, x3 = 0."""
    x1, x2, x3 = x.unbind()
    t = _index(x, 10) / 10
    return torch.exp(-t * x1) - torch.exp(-t * x2) - x3 * (torch.exp(-t) - torch.exp(-10 * t))


def extended_powell(x: Tensor) -> Tensor:
    """MGH 22 (and, for n = 4, MGH 13 Powell singular), n a multiple of 4, m = n:
    r(4i-3) = x(4i-3) + 10 x(4i-2), r(4i-2) = sqrt(5) (x(4i-1) - x(4i)),
    r(4i-1) = (x(4i-2) - 2 x(4i-1))^2, r(4i) = sqrt(10) (x(4i-3) - x(4i))^2. f* = 0 at 0."""
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return torch.cat(
        [a + 10 * b, math.sqrt(5) * (c - d), (b - 2 * c) ** 2, math.sqrt(10) * (a - d) ** 2]
    )


def wood(x: Tensor) -> Tensor:
    """MGH 14, n = 4, m = 6: r1 = 10 (x2 - x1^2), r2 = 1 - x1, r3 = sqrt(90) (x4 - x3^2),
    r4 = 1 - x3, r5 = sqrt(10) (x2 + x4 - 2), r6 = (x2 - x4) / sqrt(10). f* = 0 at (1, 1, 1, 1)."""
    x1, x2, x3, x4 = x.unbind()
    return torch.stack(
        [
            10 * (x2 - x1**2),
            1 - x1,
            math.sqrt(90) * (x4 - x3**2),
            1 - x3,
            math.sqrt(10) * (x2 + x4 - 2),
            (x2 - x4) / math.sqrt(10),
        ]
    )


def kowalik_osborne(x: Tensor) -> Tensor:
    """MGH 15, n = 4, m = 11: r(i) = y(i) - x1 (u^2 + u x2) / (u^2 + u x3 + x4), u = u(i).
    f* = 3.07505e-4; MGH also list f = 1.02734e-3 at (+inf, -14.07..., -inf, -inf)."""
    x1, x2, x3, x4 = x.unbind()
    y = (0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246)
    u = _data(x, (4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625))
    return _data(x, y) - x1 * (u**2 + u * x2) / (u**2 + u * x3 + x4)


def brown_dennis(x: Tensor) -> Tensor:
    """MGH 16, n = 4, m = 20: r(i) = (x1 + t x2 - exp(t))^2 + (x3 + x4 sin(t) - cos(t))^2,
    t = i / 5. f* = 85822.2."""
    x1, x2, x3, x4 = x.unbind()
    t = _index(x, 20) / 5
    return (x1 + t * x2 - torch.exp(t)) ** 2 + (x3 + x4 * torch.sin(t) - torch.cos(t)) ** 2


def osborne1(x: Tensor) -> Tensor:
    """MGH 17, n = 5, m = 33: r(i) = y(i) - (x1 + x2 exp(-t x4) + x3 exp(-t x5)),
    t = 10 (i - 1). f* = 5.46489e-5."""
    x1, x2, x3, x4, x5 = x.unbind()
    t = 10 * (_index(x, 33) - 1)
    y = (
        0.844,
        0.908,
        0.932,
        0.936,
        0.925,
        0.908,
        0.881,
        0.850,
        0.818,
        0.784,
        0.751,
        0.718,
        0.685,
        0.658,
        0.628,
        0.603,
        0.580,
        0.558,
        0.538,
        0.522,
        0.506,
        0.490,
        0.478,
        0.467,
        0.457,
        0.448,
        0.438,
        0.431,
        0.424,
        0.420,
        0.414,
        0.411,
        0.406,
    )
    return _data(x, y) - (x1 + x2 * torch.exp(-t * x4) + x3 * torch.exp(-t * x5))


def biggs_exp6(x: Tensor) -> Tensor:
    """MGH 18, n = 6, m = 13 (MGH: m >= 6): r(i) = x3 exp(-t x1) - x4 exp(-t x2)
    + x6 exp(-t x5) - y(i), t = i / 10, y(i) = exp(-t) - 5 exp(-10 t) + 3 exp(-4 t).
    f* = 0 at (1, 10, 1, 5, 4, 3); MGH also list the local minimum f = 5.65565e-3 (m = 13),
    where descent methods from x0 often stop."""
    x1, x2, x3, x4, x5, x6 = x.unbind()
    t = _index(x, 13) / 10
    y = torch.exp(-t) - 5 * torch.exp(-10 * t) + 3 * torch.exp(-4 * t)
    return x3 * torch.exp(-t * x1) - x4 * torch.exp(-t * x2) + x6 * torch.exp(-t * x5) - y


def osborne2(x: Tensor) -> Tensor:
    """MGH 19, n = 11, m = 65: r(i) = y(i) - (x1 exp(-t x5) + x2 exp(-(t - x9)^2 x6)
    + x3 exp(-(t - x10)^2 x7) + x4 exp(-(t - x11)^2 x8)), t = (i - 1) / 10. f* = 4.01377e-2."""
    t = (_index(x, 65) - 1) / 10
    y = (
        1.366,
        1.191,
        1.112,
        1.013,
        0.991,
        0.885,
        0.831,
        0.847,
        0.786,
        0.725,
        0.746,
        0.679,
        0.608,
        0.655,
        0.616,
        0.606,
        0.602,
        0.626,
        0.651,
        0.724,
        0.649,
        0.649,
        0.694,
        0.644,
        0.624,
        0.661,
        0.612,
        0.558,
        0.533,
        0.495,
        0.500,
        0.423,
        0.395,
        0.375,
        0.372,
        0.391,
        0.396,
        0.405,
        0.428,
        0.429,
        0.523,
        0.562,
        0.607,
        0.653,
        0.672,
        0.708,
        0.633,
        0.668,
        0.645,
        0.632,
        0.591,
        0.559,
        0.597,
        0.625,
        0.739,
        0.710,
        0.729,
        0.720,
        0.636,
        0.581,
        0.428,
        0.292,
        0.162,
        0.098,
        0.054,
    )
    bumps = x[1:4, None] * torch.exp(-((t - x[8:11, None]) ** 2) * x[5:8, None])
    return _data(x, y) - (x[0] * torch.exp(-t * x[4]) + bumps.sum(0))


def watson(x: Tensor) -> Tensor:
    """MGH 20, 2 <= n <= 31, m = 31: for i <= 29, t = i / 29,
    r(i) = sum_{j=2..n} (j - 1) xj t^(j-2) - (sum_{j=1..n} xj t^(j-1))^2 - 1;
    r30 = x1, r31 = x2 - x1^2 - 1. f* = 2.28767e-3 (n = 6), 1.39976e-6 (n = 9)."""
    n = x.shape[0]
    powers = (_index(x, 29) / 29)[:, None] ** torch.arange(n, device=x.device)
    slope = powers[:, :-1] @ (_index(x, n - 1) * x[1:])
    return torch.cat([slope - (powers @ x) ** 2 - 1, x[:1], x[1:2] - x[:1] ** 2 - 1])


def penalty1(x: Tensor) -> Tensor:
    """MGH 23, m = n + 1: r(i) = sqrt(1e-5) (xi - 1) for i <= n, r(n+1) = sum xj^2 - 1/4.
    f* = 2.24997e-5 (n = 4), 7.08765e-5 (n = 10)."""
    return torch.cat([math.sqrt(1e-5) * (x - 1), (x.square().sum() - 0.25)[None]])


def penalty2(x: Tensor) -> Tensor:
    """MGH 24, m = 2n, a = 1e-5: r1 = x1 - 0.2;
    r(i) = sqrt(a) (exp(xi / 10) + exp(x(i-1) / 10) - y(i)), y(i) = exp(i/10) + exp((i-1)/10),
    for 2 <= i <= n; r(i) = sqrt(a) (exp(x(i-n+1) / 10) - exp(-1/10)) for n < i < 2n;
    r(2n) = sum_j (n - j + 1) xj^2 - 1. f* = 9.37629e-6 (n = 4), 2.93660e-4 (n = 10)."""
    n = x.shape[0]
    i = _index(x, n)[1:]
    y = torch.exp(i / 10) + torch.exp((i - 1) / 10)
    return torch.cat(
        [
            x[:1] - 0.2,
            math.sqrt(1e-5) * (torch.exp(x[1:] / 10) + torch.exp(x[:-1] / 10) - y),
            math.sqrt(1e-5) * (torch.exp(x[1:] / 10) - math.exp(-0.1)),
            ((n + 1 - _index(x, n)) @ x.square() - 1)[None],
        ]
    )


def variably_dimensioned(x: Tensor) -> Tensor:
    """MGH 25, m = n + 2: r(i) = xi - 1 for i <= n, r(n+1) = s, r(n+2) = s^2 with
    s = sum_j j (xj - 1). f* = 0 at (1, ..., 1)."""
    s = (_index(x, x.shape[0]) @ (x - 1))[None]
    return torch.cat([x - 1, s, s**2])


def trigonometric(x: Tensor) -> Tensor:
    """MGH 26, m = n: r(i) = n - sum_j cos(xj) + i (1 - cos(xi)) - sin(xi). f* = 0 at 0 (and
    at 2 pi k (1, ..., 1)); for n = 10 descent methods from x0 stop at the local minimum
    f = 2.79506e-5 of later tabulations."""
    n = x.shape[0]
    return n - torch.cos(x).sum() + _index(x, n) * (1 - torch.cos(x)) - torch.sin(x)


def brown_almost_linear(x: Tensor) -> Tensor:
    """MGH 27, m = n: r(i) = xi + sum_j xj - (n + 1) for i < n, r(n) = prod_j xj - 1.
    f* = 0 at (1, ..., 1) (and at (a, ..., a, a^(1-n)) for the other roots a of
    n a^n - (n + 1) a^(n-1) + 1); MGH also list f = 1 at (0, ..., 0, n + 1)."""
    n = x.shape[0]
    return torch.cat([x[:-1] + x.sum() - (n + 1), (x.prod() - 1)[None]])


def discrete_boundary_value(x: Tensor) -> Tensor:
    """MGH 28, m = n, h = 1 / (n + 1), t(i) = i h, x0 = x(n+1) = 0:
    r(i) = 2 xi - x(i-1) - x(i+1) + h^2 (xi + t(i) + 1)^3 / 2. f* = 0."""
    n = x.shape[0]
    h = 1 / (n + 1)
    padded = _pad(x)
    return 2 * x - padded[:-2] - padded[2:] + h**2 * (x + _index(x, n) * h + 1) ** 3 / 2


def discrete_integral_equation(x: Tensor) -> Tensor:
    """MGH 29, m = n, h = 1 / (n + 1), t(j) = j h, c(j) = (xj + t(j) + 1)^3:
    r(i) = xi + h [(1 - t(i)) sum_{j<=i} t(j) c(j) + t(i) sum_{j>i} (1 - t(j)) c(j)] / 2.
    f* = 0."""
    n = x.shape[0]
    h = 1 / (n + 1)
    t = _index(x, n) * h
    c = (x + t + 1) ** 3
    tail = (1 - t) * c
    below = torch.cumsum(t * c, 0)
    above = tail.sum() - torch.cumsum(tail, 0)
    return x + h * ((1 - t) * below + t * above) / 2


def broyden_tridiagonal(x: Tensor) -> Tensor:
    """MGH 30, m = n, x0 = x(n+1) = 0: r(i) = (3 - 2 xi) xi - x(i-1) - 2 x(i+1) + 1. f* = 0."""
    padded = _pad(x)
    return (3 - 2 * x) * x - padded[:-2] - 2 * padded[2:] + 1


def broyden_banded(x: Tensor) -> Tensor:
    """MGH 31, m = n: r(i) = xi (2 + 5 xi^2) + 1 - sum_{j in J(i)} xj (1 + xj), with
    J(i) = {j != i : max(1, i - 5) <= j <= min(n, i + 1)} (ml = 5, mu = 1). f* = 0."""
    n = x.shape[0]
    band = torch.ones(n, n, dtype=x.dtype, device=x.device).triu(-5).tril(1)
    band.fill_diagonal_(0)
    return x * (2 + 5 * x**2) + 1 - band @ (x * (1 + x))


LINEAR_M = 20
"""The number of residuals m of MGH problems 32-34 (MGH: m >= n)."""


def linear_full_rank(x: Tensor) -> Tensor:
    """MGH 32, m >= n (here m = 20): r(i) = xi - 2 s / m - 1 for i <= n, r(i) = -2 s / m - 1
    for i > n, s = sum_j xj. f* = m - n at (-1, ..., -1)."""
    rest = -2 * x.sum() / LINEAR_M - 1
    return torch.cat([x + rest, rest.expand(LINEAR_M - x.shape[0])])


def linear_rank1(x: Tensor) -> Tensor:
    """MGH 33, m >= n (here m = 20): r(i) = i sum_j j xj - 1. f* = m (m - 1) / (2 (2m + 1))
    wherever sum_j j xj = 3 / (2m + 1)."""
    return _index(x, LINEAR_M) * (_index(x, x.shape[0]) @ x) - 1


def linear_rank1_zero(x: Tensor) -> Tensor:
    """MGH 34, m >= n (here m = 20): r1 = r(m) = -1, r(i) = (i - 1) sum_{j=2..n-1} j xj - 1
    for 1 < i < m. f* = (m^2 + 3m - 6) / (2 (2m - 3)) wherever sum_{j=2..n-1} j xj
    = 3 / (2m - 3)."""
    s = _index(x, x.shape[0])[1:-1] @ x[1:-1]
    inner = _index(x, LINEAR_M - 2) * s - 1
    return torch.cat([-torch.ones_like(x[:1]), inner, -torch.ones_like(x[:1])])


def chebyquad(x: Tensor) -> Tensor:
    """MGH 35, m = n: r(i) = (1/n) sum_j T(i)(xj) - integral_0^1 T(i), with T(i) the Chebyshev
    polynomial of degree i shifted to [0, 1]; the integral is -1 / (i^2 - 1) for even i and 0
    for odd i. f* = 3.51687e-3 (m = n = 8)."""
    n = x.shape[0]
    y = 2 * x - 1
    previous, current = torch.ones_like(x), y
    means = []
    for i in range(1, n + 1):
        means.append(current.mean() + (1 / (i * i - 1) if i % 2 == 0 else 0))
        previous, current = current, 2 * y * current - previous
    return torch.stack(means)


_N = 10
"""The dimension of MGH's variable-dimension problems without a tabulated ``n``."""

PROBLEMS: tuple[Problem, ...] = (
    Problem("rosenbrock", 1, (-1.2, 1.0), 0.0, extended_rosenbrock),
    Problem("freudenstein_roth", 2, (0.5, -2.0), 0.0, freudenstein_roth),
    Problem("powell_badly_scaled", 3, (0.0, 1.0), 0.0, powell_badly_scaled),
    Problem("brown_badly_scaled", 4, (1.0, 1.0), 0.0, brown_badly_scaled),
    Problem("beale", 5, (1.0, 1.0), 0.0, beale),
    Problem("jennrich_sampson", 6, (0.3, 0.4), 124.362, jennrich_sampson),
    Problem("helical_valley", 7, (-1.0, 0.0, 0.0), 0.0, helical_valley),
    Problem("bard", 8, (1.0, 1.0, 1.0), 8.21487e-3, bard),
    Problem("gaussian", 9, (0.4, 1.0, 0.0), 1.12793e-8, gaussian),
    Problem("meyer", 10, (0.02, 4000.0, 250.0), 87.9458, meyer),
    Problem("gulf", 11, (5.0, 2.5, 0.15), 0.0, gulf),
    Problem("box_3d", 12, (0.0, 10.0, 20.0), 0.0, box_3d),
    Problem("powell_singular", 13, (3.0, -1.0, 0.0, 1.0), 0.0, extended_powell),
    Problem("wood", 14, (-3.0, -1.0, -3.0, -1.0), 0.0, wood),
    Problem("kowalik_osborne", 15, (0.25, 0.39, 0.415, 0.39), 3.07505e-4, kowalik_osborne),
    Problem("brown_dennis", 16, (25.0, 5.0, -5.0, -1.0), 85822.2, brown_dennis),
    Problem("osborne1", 17, (0.5, 1.5, -1.0, 0.01, 0.02), 5.46489e-5, osborne1),
    Problem("biggs_exp6", 18, (1.0, 2.0, 1.0, 1.0, 1.0, 1.0), 0.0, biggs_exp6),
    Problem(
        "osborne2",
        19,
        (1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5),
        4.01377e-2,
        osborne2,
    ),
    Problem("watson_n6", 20, (0.0,) * 6, 2.28767e-3, watson),
    Problem("watson_n9", 20, (0.0,) * 9, 1.39976e-6, watson),
    Problem("extended_rosenbrock", 21, (-1.2, 1.0) * (_N // 2), 0.0, extended_rosenbrock),
    Problem("extended_powell", 22, (3.0, -1.0, 0.0, 1.0) * 3, 0.0, extended_powell),
    Problem("penalty1_n4", 23, (1.0, 2.0, 3.0, 4.0), 2.24997e-5, penalty1),
    Problem("penalty1_n10", 23, tuple(map(float, range(1, 11))), 7.08765e-5, penalty1),
    Problem("penalty2_n4", 24, (0.5,) * 4, 9.37629e-6, penalty2),
    Problem("penalty2_n10", 24, (0.5,) * 10, 2.93660e-4, penalty2),
    Problem(
        "variably_dimensioned",
        25,
        tuple(1 - j / _N for j in range(1, _N + 1)),
        0.0,
        variably_dimensioned,
    ),
    Problem("trigonometric", 26, (1 / _N,) * _N, 0.0, trigonometric),
    Problem("brown_almost_linear", 27, (0.5,) * _N, 0.0, brown_almost_linear),
    Problem("discrete_boundary_value", 28, _mesh(_N), 0.0, discrete_boundary_value),
    Problem("discrete_integral_equation", 29, _mesh(_N), 0.0, discrete_integral_equation),
    Problem("broyden_tridiagonal", 30, (-1.0,) * _N, 0.0, broyden_tridiagonal),
    Problem("broyden_banded", 31, (-1.0,) * _N, 0.0, broyden_banded),
    Problem("linear_full_rank", 32, (1.0,) * _N, float(LINEAR_M - _N), linear_full_rank),
    Problem(
        "linear_rank1",
        33,
        (1.0,) * _N,
        LINEAR_M * (LINEAR_M - 1) / (2 * (2 * LINEAR_M + 1)),
        linear_rank1,
    ),
    Problem(
        "linear_rank1_zero",
        34,
        (1.0,) * _N,
        (LINEAR_M**2 + 3 * LINEAR_M - 6) / (2 * (2 * LINEAR_M - 3)),
        linear_rank1_zero,
    ),
    Problem("chebyquad", 35, tuple(j / 9 for j in range(1, 9)), 3.51687e-3, chebyquad),
)
"""The test set, in MGH number order."""

KNOWN_MINIMISERS: dict[str, tuple[float, ...]] = {
    "rosenbrock": (1.0, 1.0),
    "freudenstein_roth": (5.0, 4.0),
    # MGH print (1.098...e-5, 9.106...); the digits are the root of r1 = r2 = 0 in float64.
    "powell_badly_scaled": (1.0981593296998807e-05, 9.106146739866),
    "brown_badly_scaled": (1e6, 2e-6),
    "beale": (3.0, 0.5),
    "helical_valley": (1.0, 0.0, 0.0),
    "gulf": (50.0, 25.0, 1.5),
    "box_3d": (1.0, 10.0, 1.0),
    "powell_singular": (0.0,) * 4,
    "wood": (1.0,) * 4,
    "biggs_exp6": (1.0, 10.0, 1.0, 5.0, 4.0, 3.0),
    "extended_rosenbrock": (1.0,) * _N,
    "extended_powell": (0.0,) * 12,
    "variably_dimensioned": (1.0,) * _N,
    "brown_almost_linear": (1.0,) * _N,
    "trigonometric": (0.0,) * _N,
    "linear_full_rank": (-1.0,) * _N,
    "linear_rank1": (3 / (2 * LINEAR_M + 1),) + (0.0,) * (_N - 1),
    "linear_rank1_zero": (0.0, 1.5 / (2 * LINEAR_M - 3)) + (0.0,) * (_N - 2),
}
"""Closed-form minimisers ``x*`` with ``f(x*) == f_star``, by problem name."""

LOCAL_MINIMA: dict[str, float] = {
    "freudenstein_roth": 48.9842,
    "biggs_exp6": 5.65565e-3,
    "trigonometric": 2.79506e-5,
}
"""Other published minimum values, where BFGS from ``x0`` stops instead of at ``f_star``."""

_BY_NAME = {p.name: p for p in PROBLEMS}


def problem(name: str) -> Problem:
    """The problem called ``name``; a ``KeyError`` lists the known names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown MGH problem {name!r}; known: {', '.join(_BY_NAME)}") from None
