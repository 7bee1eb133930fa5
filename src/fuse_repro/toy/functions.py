"""Classic non-convex test functions with known global minima, for the toy ablation.

Each function is a :class:`TestFunction`: the objective ``f`` (torch, differentiable by
autograd), its global minimum value ``f*``, the known global minimisers, a box ``domain`` for
random starts, the literature's standard start where there is one, and the citation. All
tensors are float64. Every ``f`` evaluates over the last axis, so ``f(x)`` is a scalar for
``x`` of shape ``(dim,)`` and a vector of ``n`` values for ``x`` of shape ``(n, dim)``.

Usage::

    fn = get("rosenbrock", dim=4)
    starts = random_starts(fn, n=100, seed=0)          # (100, 4), uniform in fn.domain
    objective = NoisyObjective(fn, noise_scale=0.1, seed=0)
    objective.batch()                                   # once per optimiser step
    loss = objective(x)                                 # same noisy function until next batch()
    success(fn, x_final, tol=1e-3)                      # basin success per run

Domains and minima follow the cited sources; where a source gives no box, the secondary
reference for all of them is S. Surjanovic & D. Bingham, "Virtual Library of Simulation
Experiments: Test Functions and Datasets", Simon Fraser University, 2013,
https://www.sfu.ca/~ssurjano (cited below as *VLSE*).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

DTYPE = torch.float64
VLSE = "Surjanovic & Bingham, Virtual Library of Simulation Experiments (2013), sfu.ca/~ssurjano"
MGH = (
    "J. J. Moré, B. S. Garbow & K. E. Hillstrom, Testing unconstrained optimization software, "
    "ACM Trans. Math. Software 7(1):17-41, 1981"
)

# Stationary points solved by Newton's method in float64 to full precision.
HIMMELBLAU_MINIMIZERS = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.283185991286169),
    (3.5844283403304917, -1.8481265269644034),
)
SIX_HUMP_CAMEL_MINIMIZER = (0.08984201310031806, -0.7126564030207396)  # and its negation
SIX_HUMP_CAMEL_MINIMUM = -1.0316284534898774
STYBLINSKI_TANG_ROOT = -2.903534027771177  # smallest root of 4t^3 - 32t + 5 = 0
STYBLINSKI_TANG_MINIMUM_PER_DIM = -39.16616570377141


@dataclass(frozen=True, eq=False)
class TestFunction:
    """A test objective with its known global minimum.

    ``f`` maps a float64 tensor of shape ``(..., dim)`` to values of shape ``(...)``;
    ``minimizers`` has shape ``(k, dim)`` (all known global minimisers, each with value
    ``minimum_value``); ``domain`` is ``(low, high)``, two tensors of shape ``(dim,)``;
    ``standard_start`` is the literature's starting point of shape ``(dim,)``, or None.
    """

    __test__ = False  # not a pytest test class, despite its name

    name: str
    dim: int
    f: Callable[[torch.Tensor], torch.Tensor]
    minimum_value: float
    minimizers: torch.Tensor
    domain: tuple[torch.Tensor, torch.Tensor]
    standard_start: torch.Tensor | None
    reference: str


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Chained Rosenbrock: ``sum_{i=1}^{d-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``.

    Rosenbrock (1960) for d = 2; the chained N-D form is VLSE's (also scipy's ``rosen``).
    Global minimum 0 at (1, ..., 1); for 4 <= d <= 7 there is also a local minimum near
    (-1, 1, ..., 1) (Shang & Qiu 2006).
    """
    head, tail = x[..., :-1], x[..., 1:]
    return (100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2).sum(-1)


def extended_rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Extended Rosenbrock (MGH problem 21), d even: independent 2-D Rosenbrock pairs,
    ``sum_{j=1}^{d/2} 100 (x_{2j} - x_{2j-1}^2)^2 + (1 - x_{2j-1})^2``. Minimum 0 at (1, ..., 1).
    """
    odd, even = x[..., 0::2], x[..., 1::2]
    return (100.0 * (even - odd**2) ** 2 + (1.0 - odd) ** 2).sum(-1)


def beale(x: torch.Tensor) -> torch.Tensor:
    """Beale: ``sum_{i=1}^{3} (c_i - x + x y^i)^2`` with c = (1.5, 2.25, 2.625);
    minimum 0 at (3, 0.5)."""
    u, v = x[..., 0], x[..., 1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


def himmelblau(x: torch.Tensor) -> torch.Tensor:
    """Himmelblau: ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``; minimum 0 at four points."""
    u, v = x[..., 0], x[..., 1]
    return (u**2 + v - 11.0) ** 2 + (u + v**2 - 7.0) ** 2


def rastrigin(x: torch.Tensor) -> torch.Tensor:
    """Rastrigin: ``10 d + sum_i (x_i^2 - 10 cos(2 pi x_i))``; minimum 0 at the origin,
    local minima near every integer lattice point."""
    return 10.0 * x.shape[-1] + (x**2 - 10.0 * torch.cos(2.0 * math.pi * x)).sum(-1)


def ackley(x: torch.Tensor) -> torch.Tensor:
    """Ackley (a = 20, b = 0.2, c = 2 pi):
    ``-a exp(-b sqrt(mean_i x_i^2)) - exp(mean_i cos(c x_i)) + a + e``; minimum 0 at the origin.

    The function has a cone-shaped kink at the origin, so it is not differentiable there;
    ``torch.linalg.vector_norm`` gives gradient 0 at the origin, which is a valid subgradient
    (the origin is the minimiser), rather than the NaN that ``sqrt(sum x^2)`` would give.
    """
    rms = torch.linalg.vector_norm(x, dim=-1) / math.sqrt(x.shape[-1])
    return (
        -20.0 * torch.exp(-0.2 * rms)
        - torch.exp(torch.cos(2.0 * math.pi * x).mean(-1))
        + 20.0
        + math.e
    )


def six_hump_camel(x: torch.Tensor) -> torch.Tensor:
    """Six-hump camel: ``(4 - 2.1 x^2 + x^4 / 3) x^2 + x y + (-4 + 4 y^2) y^2``; six local
    minima, two global ones, ±(0.0898420131, -0.7126564030), value -1.0316284535."""
    u, v = x[..., 0], x[..., 1]
    return (4.0 - 2.1 * u**2 + u**4 / 3.0) * u**2 + u * v + (-4.0 + 4.0 * v**2) * v**2


def styblinski_tang(x: torch.Tensor) -> torch.Tensor:
    """Styblinski-Tang: ``(1/2) sum_i (x_i^4 - 16 x_i^2 + 5 x_i)``; 2^d local minima (each
    coordinate near -2.90 or +2.75), the global one at x_i = -2.903534 for all i, value
    -39.16617 d."""
    return 0.5 * (x**4 - 16.0 * x**2 + 5.0 * x).sum(-1)


def _box(
    low: float | tuple[float, ...], high: float | tuple[float, ...], dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(low, dtype=DTYPE).expand(dim).clone(),
        torch.tensor(high, dtype=DTYPE).expand(dim).clone(),
    )


def _mgh_start(dim: int) -> torch.Tensor:
    """(-1.2, 1, -1.2, 1, ...), MGH's standard start for (extended) Rosenbrock."""
    return torch.tensor([-1.2, 1.0], dtype=DTYPE).repeat(dim // 2 + 1)[:dim]


def _nd_dim(name: str, dim: int | None, *, minimum: int = 1, even: bool = False) -> int:
    if dim is None:
        return 2
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < minimum or (even and dim % 2):
        need = f"an {'even ' if even else ''}int >= {minimum}"
        raise ValueError(f"test function {name!r} needs dim to be {need}, got dim={dim!r}")
    return dim


def _two_d(name: str, dim: int | None) -> int:
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim != 2):
        raise ValueError(f"test function {name!r} is defined for dim=2 only, got dim={dim!r}")
    return 2


def _get_rosenbrock(dim: int | None) -> TestFunction:
    d = _nd_dim("rosenbrock", dim, minimum=2)
    return TestFunction(
        "rosenbrock",
        d,
        rosenbrock,
        0.0,
        torch.ones(1, d, dtype=DTYPE),
        _box(-2.048, 2.048, d),
        _mgh_start(d),
        "H. H. Rosenbrock, An automatic method for finding the greatest or least value of a "
        "function, The Computer Journal 3(3):175-184, 1960; chained N-D form and domain: "
        f"{VLSE}; standard start: {MGH} (problems 1 and 21); N-D local minimum: Y.-W. Shang & "
        "Y.-H. Qiu, A note on the extended Rosenbrock function, Evol. Comput. 14(1):119-126, 2006",
    )


def _get_extended_rosenbrock(dim: int | None) -> TestFunction:
    d = _nd_dim("extended_rosenbrock", dim, minimum=2, even=True)
    return TestFunction(
        "extended_rosenbrock",
        d,
        extended_rosenbrock,
        0.0,
        torch.ones(1, d, dtype=DTYPE),
        _box(-2.048, 2.048, d),
        _mgh_start(d),
        f"{MGH}, problem 21",
    )


def _get_beale(dim: int | None) -> TestFunction:
    return TestFunction(
        "beale",
        _two_d("beale", dim),
        beale,
        0.0,
        torch.tensor([[3.0, 0.5]], dtype=DTYPE),
        _box(-4.5, 4.5, 2),
        torch.tensor([1.0, 1.0], dtype=DTYPE),
        "E. M. L. Beale, On an iterative method for finding a local minimum of a function of "
        "more than one variable, Tech. Rep. 25, Statistical Techniques Research Group, Princeton "
        f"University, 1958; standard start: {MGH} (problem 5); domain: {VLSE}",
    )


def _get_himmelblau(dim: int | None) -> TestFunction:
    return TestFunction(
        "himmelblau",
        _two_d("himmelblau", dim),
        himmelblau,
        0.0,
        torch.tensor(HIMMELBLAU_MINIMIZERS, dtype=DTYPE),
        _box(-5.0, 5.0, 2),
        None,
        "D. M. Himmelblau, Applied Nonlinear Programming, McGraw-Hill, 1972; domain: [-5, 5]^2",
    )


def _get_rastrigin(dim: int | None) -> TestFunction:
    d = _nd_dim("rastrigin", dim)
    return TestFunction(
        "rastrigin",
        d,
        rastrigin,
        0.0,
        torch.zeros(1, d, dtype=DTYPE),
        _box(-5.12, 5.12, d),
        None,
        "L. A. Rastrigin, Systems of Extremal Control, Nauka, Moscow, 1974 (2-D); N-D form: "
        "H. Mühlenbein, M. Schomisch & J. Born, The parallel genetic algorithm as function "
        f"optimizer, Parallel Computing 17(6-7):619-632, 1991; domain: {VLSE}",
    )


def _get_ackley(dim: int | None) -> TestFunction:
    d = _nd_dim("ackley", dim)
    return TestFunction(
        "ackley",
        d,
        ackley,
        0.0,
        torch.zeros(1, d, dtype=DTYPE),
        _box(-32.768, 32.768, d),
        None,
        "D. H. Ackley, A Connectionist Machine for Genetic Hillclimbing, Kluwer, 1987; N-D "
        f"form, constants (20, 0.2, 2 pi) and domain: {VLSE}",
    )


def _get_six_hump_camel(dim: int | None) -> TestFunction:
    m = torch.tensor(SIX_HUMP_CAMEL_MINIMIZER, dtype=DTYPE)
    return TestFunction(
        "six_hump_camel",
        _two_d("six_hump_camel", dim),
        six_hump_camel,
        SIX_HUMP_CAMEL_MINIMUM,
        torch.stack([m, -m]),
        _box((-3.0, -2.0), (3.0, 2.0), 2),
        None,
        "L. C. W. Dixon & G. P. Szegő, The global optimization problem: an introduction, in "
        "Towards Global Optimisation 2, North-Holland, 1978, pp. 1-15; domain "
        f"[-3, 3] x [-2, 2]: {VLSE}",
    )


def _get_styblinski_tang(dim: int | None) -> TestFunction:
    d = _nd_dim("styblinski_tang", dim)
    return TestFunction(
        "styblinski_tang",
        d,
        styblinski_tang,
        STYBLINSKI_TANG_MINIMUM_PER_DIM * d,
        torch.full((1, d), STYBLINSKI_TANG_ROOT, dtype=DTYPE),
        _box(-5.0, 5.0, d),
        None,
        "M. A. Styblinski & T.-S. Tang, Experiments in nonconvex optimization: stochastic "
        "approximation with function smoothing and simulated annealing, Neural Networks "
        f"3(4):467-483, 1990; domain: {VLSE}",
    )


_REGISTRY: dict[str, Callable[[int | None], TestFunction]] = {
    "rosenbrock": _get_rosenbrock,
    "extended_rosenbrock": _get_extended_rosenbrock,
    "beale": _get_beale,
    "himmelblau": _get_himmelblau,
    "rastrigin": _get_rastrigin,
    "ackley": _get_ackley,
    "six_hump_camel": _get_six_hump_camel,
    "styblinski_tang": _get_styblinski_tang,
}
NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get(name: str, dim: int | None = None) -> TestFunction:
    """The test function ``name`` (one of :data:`NAMES`) in ``dim`` dimensions.

    ``dim=None`` means 2 for every function. beale, himmelblau and six_hump_camel are 2-D
    only; rosenbrock needs dim >= 2, extended_rosenbrock an even dim; the others any dim >= 1.
    Raises ValueError for an unknown name or an unsupported dim.
    """
    try:
        build = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown test function {name!r}; known: {', '.join(NAMES)}") from None
    return build(dim)


def random_starts(fn: TestFunction, n: int, seed: int) -> torch.Tensor:
    """``n`` starting points, shape ``(n, fn.dim)``, uniform in ``fn.domain``; the same
    ``seed`` gives the same points (a private ``torch.Generator``, global RNG untouched)."""
    generator = torch.Generator().manual_seed(seed)
    low, high = fn.domain
    return low + (high - low) * torch.rand(n, fn.dim, generator=generator, dtype=DTYPE)


class NoisyObjective:
    """``fn.f`` plus seeded Gaussian noise, the toy analogue of a mini-batch loss.

    For the current batch's noise ``z0 ~ N(0, 1)`` and ``z ~ N(0, I_dim)``::

        objective(x) = f(x) + noise_scale * (z0 + z . x)

    so within a batch the objective is one fixed smooth function whose gradient is
    ``grad f(x) + noise_scale * z``: the true gradient plus zero-mean Gaussian noise of std
    ``noise_scale`` per coordinate, at every x. The value noise ``noise_scale * (z0 + z . x)``
    has mean 0 and std ``noise_scale * sqrt(1 + |x|^2)`` -- exactly ``noise_scale`` only at
    the origin (no perturbation linear in x can have both a constant value std and a
    gradient-noise std of ``noise_scale``). ``noise_scale = 0`` returns exactly ``f(x)``.

    Batch semantics: the constructor draws the first batch; :meth:`batch` draws the next.
    The training loop calls ``batch()`` once per optimiser step, and every closure
    evaluation in that step (FUSE's L-BFGS line search evaluates the closure several times)
    sees the same noisy function, as repeated evaluations on one mini-batch would. The
    sequence of batches is fixed by ``seed``.

    A consequence of the linear tilt: where ``f`` is bounded (Ackley) or flat along a line
    (Beale along y = 1), one batch's function is unbounded below in that direction, and a
    line search may follow the tilt far out, which a method with a bounded step (Adam)
    cannot. A mini-batch loss bounded below (cross-entropy) has no such direction.
    """

    def __init__(self, fn: TestFunction, noise_scale: float, seed: int):
        if not noise_scale >= 0:
            raise ValueError(f"noise_scale must be >= 0, got {noise_scale!r}")
        self.fn = fn
        self.noise_scale = float(noise_scale)
        self._generator = torch.Generator().manual_seed(seed)
        self.batch()

    def batch(self) -> None:
        """Draw fresh noise; calls until the next ``batch()`` all use it."""
        noise = torch.randn(self.fn.dim + 1, generator=self._generator, dtype=DTYPE)
        self._offset, self._direction = noise[0], noise[1:]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        value = self.fn.f(x)
        if self.noise_scale == 0:
            return value
        return value + self.noise_scale * (self._offset + x @ self._direction)


class FiniteSumObjective:
    """``fn.f`` as the mean of ``terms`` smooth terms, of which each step samples ``batch``:
    the toy analogue of a mini-batch loss whose curvature is noisy too.

    The terms come in pairs that cancel (Bottou, Curtis & Nocedal, SIAM Review 60(2), 2018,
    eq. 4.1 for the finite-sum setting)::

        f_j(x) = f(x) + s_j * sigma * sqrt(2 / d) / omega * sin(a_j . x + b_j),
        s_j = +1 for j < terms / 2 and -1 for the pair's other half,

    with ``a_j ~ N(0, omega^2 I_d)`` and ``b_j ~ U[0, 2 pi)`` drawn once from ``seed``, so
    ``(1 / terms) sum_j f_j = f`` exactly (f* and the minimisers stay those of ``fn``),
    and each step's objective is the mean of ``batch`` terms drawn without replacement.
    A term's gradient perturbation ``s_j sigma sqrt(2 / d) cos(a_j . x + b_j) a_j / omega``
    has ``E |.|^2 = sigma^2`` over the draw of ``a_j, b_j`` at every x; the mean of
    ``batch`` of ``terms`` has variance ``sigma^2 / batch * (terms - batch) / (terms - 1)``
    (sampling without replacement), so ``sigma`` is set to make the batch gradient's error
    have RMS norm ``noise_scale * |grad f(start)|`` in expectation over the draw of the
    terms (one draw's population mean square varies around it: with 32 independent pairs
    in 2-D, by about 25 %): noise relative to the start's gradient, the same
    signal-to-noise at the start for every function. Its Hessian perturbation
    ``-s_j sigma sqrt(2 / d) / omega sin(a_j . x + b_j) a_j a_j^T`` is of order
    ``sigma omega sqrt(d)``, growing with the frequency ``omega = 2 pi cycles / w`` (``w``
    the mean side of ``fn.domain``), so the curvature pairs L-BFGS collects on one batch
    differ from ``f``'s (the linear tilt of :class:`NoisyObjective` leaves them exact); unlike
    :class:`NoisyObjective`'s linear tilt, every batch's function is bounded below wherever
    ``f`` is.

    Batch semantics as :class:`NoisyObjective`: the constructor draws the first batch,
    :meth:`batch` the next; ``noise_scale = 0`` returns exactly ``f(x)``.
    """

    def __init__(
        self,
        fn: TestFunction,
        noise_scale: float,
        seed: int,
        start: torch.Tensor,
        terms: int,
        batch: int,
        cycles: float,
    ):
        if not noise_scale >= 0:
            raise ValueError(f"noise_scale must be >= 0, got {noise_scale!r}")
        if terms < 2 or terms % 2 or not 1 <= batch < terms:
            raise ValueError(
                f"need an even terms >= 2 and 1 <= batch < terms, got {terms}, {batch}"
            )
        self.fn, self.terms, self.batch_size = fn, terms, batch
        self._generator = torch.Generator().manual_seed(seed)
        low, high = fn.domain
        omega = 2.0 * math.pi * cycles / float((high - low).mean())
        half = terms // 2
        frequencies = omega * torch.randn(half, fn.dim, generator=self._generator, dtype=DTYPE)
        phases = 2.0 * math.pi * torch.rand(half, generator=self._generator, dtype=DTYPE)
        self._frequencies = torch.cat([frequencies, frequencies])
        self._phases = torch.cat([phases, phases])
        signs = torch.cat([torch.ones(half, dtype=DTYPE), -torch.ones(half, dtype=DTYPE)])
        point = start.detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(fn.f(point), point)
        batch_error = math.sqrt((terms - batch) / (batch * (terms - 1)))
        sigma = noise_scale * float(torch.linalg.vector_norm(gradient)) / batch_error
        self._amplitudes = signs * sigma * math.sqrt(2.0 / fn.dim) / omega
        self.noise_scale = float(noise_scale)
        self.batch()

    def batch(self) -> None:
        """Sample the next ``batch`` terms (without replacement)."""
        self._chosen = torch.randperm(self.terms, generator=self._generator)[: self.batch_size]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        value = self.fn.f(x)
        if self.noise_scale == 0:
            return value
        chosen = self._chosen
        waves = torch.sin(x @ self._frequencies[chosen].T + self._phases[chosen])
        return value + (waves * self._amplitudes[chosen]).mean(-1)


def success(fn: TestFunction, x: torch.Tensor, tol: float) -> torch.Tensor:
    """Basin success: True where the Euclidean distance from ``x`` to the nearest known
    global minimiser is <= ``tol``.

    ``x`` has shape ``(..., dim)``; the result is a bool tensor of shape ``(...)`` (0-d for
    a single point, usable in ``if``). A distance criterion, not a value gap: it fails a run
    stuck on Rosenbrock's flat valley or in a local minimum whose value is close to f*.
    For Rastrigin and Ackley, whose local minima sit near the integer lattice, choose
    ``tol < 0.5`` so that a neighbouring basin never counts.
    """
    distances = torch.linalg.vector_norm(x.unsqueeze(-2) - fn.minimizers, dim=-1)
    return distances.min(-1).values <= tol
