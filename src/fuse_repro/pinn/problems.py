"""The PDE problems of the physics-informed study, each with its reference solution.

A problem is a PDE on a box with initial and boundary conditions. A network
:math:`u_\\phi` is trained on the physics-informed loss (Raissi, Perdikaris & Karniadakis
2019, Eq. 4): the mean squared PDE residual at collocation points plus the mean squared
violation of each condition at its own points, equally weighted,

.. math::
    \\mathcal{L}(\\phi) = \\tfrac{1}{N_r}\\sum_i r_\\phi(z_i)^2
        + \\sum_c \\tfrac{1}{N_c}\\sum_j b_{c,\\phi}(z_{c,j})^2,

and scored by the relative L2 error :math:`\\lVert u_\\phi - u\\rVert_2 / \\lVert u\\rVert_2`
on a fixed evaluation grid. Derivatives come from :func:`torch.autograd.grad` on the
inputs. The problems (:data:`PROBLEMS`):

* ``burgers``: :math:`u_t + u u_x = \\nu u_{xx}` on :math:`x \\in [-1, 1]`,
  :math:`t \\in [0, 1]`, :math:`\\nu = 0.01/\\pi`, :math:`u(0, x) = -\\sin \\pi x`,
  :math:`u(t, \\pm 1) = 0` (Raissi et al. 2019, Sec. 3.1). Reference: the Cole–Hopf
  solution (:func:`burgers_solution`);
* ``convection``: :math:`u_t + \\beta u_x = 0` on :math:`x \\in [0, 2\\pi]`,
  :math:`t \\in [0, 1]`, :math:`u(0, x) = \\sin x`, periodic in x; exact solution
  :math:`\\sin(x - \\beta t)`. With :math:`\\beta = 40` a known failure of Adam alone
  (Krishnapriyan et al. 2021, "Characterizing possible failure modes in physics-informed
  neural networks");
* ``helmholtz``: :math:`\\Delta u + k^2 u = q` on :math:`[-1, 1]^2` with
  :math:`u = \\sin(a_1 \\pi x) \\sin(a_2 \\pi y)` (so :math:`u = 0` on the boundary and
  :math:`q = (k^2 - (a_1^2 + a_2^2)\\pi^2) u`), :math:`a_1 = 1, a_2 = 4, k = 1` (Wang,
  Teng & Perdikaris 2021, "Understanding and mitigating gradient flow pathologies in
  physics-informed neural networks", Sec. 3.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

DTYPE = torch.float32
Network = Callable[[Tensor], Tensor]


def derivative(u: Tensor, z: Tensor, coordinate: int) -> Tensor:
    """:math:`\\partial u / \\partial z_{coordinate}` at every point (rows of ``z``), kept
    differentiable (for higher derivatives and for the loss's gradient)."""
    (grad,) = torch.autograd.grad(u.sum(), z, create_graph=True)
    return grad[:, coordinate]


@dataclass(frozen=True)
class Problem:
    """A PDE on the box ``lower`` .. ``upper`` (coordinates named by ``coordinates``).

    ``residual(u, z)``: the PDE residual of network ``u`` at points ``z`` (``z`` requires
    grad). ``conditions``: per condition, a sampler of ``n`` points from a generator and
    the residual of the condition there (``u`` minus its prescribed value, or the mismatch
    of a periodic pair). ``solution(z)``: the reference at points ``z`` (float64 numpy
    rows, values as a numpy vector). ``grid``: points per coordinate of the evaluation grid.
    """

    name: str
    label: str
    coordinates: tuple[str, str]
    lower: tuple[float, float]
    upper: tuple[float, float]
    residual: Callable[[Network, Tensor], Tensor]
    conditions: dict[str, tuple[Callable[[int, torch.Generator], Tensor], Callable]]
    solution: Callable[[np.ndarray], np.ndarray]
    grid: tuple[int, int]

    def interior(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` collocation points uniformly at random in the box."""
        low, high = torch.tensor(self.lower, dtype=DTYPE), torch.tensor(self.upper, dtype=DTYPE)
        return low + (high - low) * torch.rand(n, 2, generator=generator, dtype=DTYPE)

    def evaluation_grid(self) -> np.ndarray:
        """The tensor grid of ``grid`` points per coordinate (ends included), as rows."""
        axes = [np.linspace(lo, hi, k) for lo, hi, k in zip(self.lower, self.upper, self.grid)]
        return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


def _on_line(coordinate: int, value: float, low: float, high: float) -> Callable:
    """A sampler of ``n`` points with coordinate ``coordinate`` fixed at ``value`` and the
    other uniform in ``low`` .. ``high``."""

    def sample(n: int, generator: torch.Generator) -> Tensor:
        free = low + (high - low) * torch.rand(n, generator=generator, dtype=DTYPE)
        fixed = torch.full((n,), value, dtype=DTYPE)
        return torch.stack((fixed, free) if coordinate == 0 else (free, fixed), dim=1)

    return sample


def _equals(target: Callable[[Tensor], Tensor]) -> Callable[[Network, Tensor], Tensor]:
    """The residual :math:`u(z) - target(z)` of a Dirichlet or initial condition."""
    return lambda u, z: u(z) - target(z)


def _zero(z: Tensor) -> Tensor:
    return z.new_zeros(len(z))


# ----------------------------------------------------------------------- Burgers
BURGERS_NU = 0.01 / math.pi


def burgers_solution(
    z: np.ndarray, nu: float = BURGERS_NU, nodes: int = 1201, reach: float = 12.0
) -> np.ndarray:
    """The Cole–Hopf solution of Burgers' equation with :math:`u(0, x) = -\\sin \\pi x`
    (Basdevant et al. 1986, Eq. 4) at rows ``z`` = (t, x):

    .. math::
        u(t, x) = -\\frac{\\int \\sin \\pi(x - c\\eta)\\, F(x - c\\eta)\\, e^{-\\eta^2} d\\eta}
                        {\\int F(x - c\\eta)\\, e^{-\\eta^2} d\\eta},
        \\quad F(y) = e^{-\\cos(\\pi y) / (2\\pi\\nu)},\\ c = \\sqrt{4\\nu t},

    both integrals by the trapezoidal rule on ``nodes`` points of :math:`\\eta \\in
    [-reach, reach]` (spectrally accurate for these smooth, rapidly decaying integrands;
    the weight :math:`e^{-\\eta^2}` is below :math:`e^{-144}` at the ends, :math:`F` at
    most :math:`e^{50}`), in log space so that nothing overflows."""
    t, x = z[:, :1], z[:, 1:]
    eta = np.linspace(-reach, reach, nodes)[None, :]
    y = x - np.sqrt(4.0 * nu * t) * eta
    log_weight = -np.cos(np.pi * y) / (2.0 * np.pi * nu) - eta**2
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    return -(np.sin(np.pi * y) * weight).sum(axis=1) / weight.sum(axis=1)


def _burgers_residual(u: Network, z: Tensor) -> Tensor:
    value = u(z)
    u_t, u_x = derivative(value, z, 0), derivative(value, z, 1)
    u_xx = derivative(u_x, z, 1)
    return u_t + value * u_x - BURGERS_NU * u_xx


BURGERS = Problem(
    name="burgers",
    label="Burgers, ν = 0.01/π",
    coordinates=("t", "x"),
    lower=(0.0, -1.0),
    upper=(1.0, 1.0),
    residual=_burgers_residual,
    conditions={
        "initial": (_on_line(0, 0.0, -1.0, 1.0), _equals(lambda z: -torch.sin(math.pi * z[:, 1]))),
        "boundary_left": (_on_line(1, -1.0, 0.0, 1.0), _equals(_zero)),
        "boundary_right": (_on_line(1, 1.0, 0.0, 1.0), _equals(_zero)),
    },
    solution=burgers_solution,
    grid=(100, 256),  # as Raissi et al.'s data set: 100 times x 256 positions
)


# -------------------------------------------------------------------- convection
CONVECTION_BETA = 40.0


def _convection_residual(u: Network, z: Tensor) -> Tensor:
    value = u(z)
    return derivative(value, z, 0) + CONVECTION_BETA * derivative(value, z, 1)


def _periodic_in_x(u: Network, z: Tensor) -> Tensor:
    """:math:`u(t, 0) - u(t, 2\\pi)` at the points ``z`` = (t, 0)."""
    return u(z) - u(z + torch.tensor([0.0, 2.0 * math.pi], dtype=z.dtype))


CONVECTION = Problem(
    name="convection",
    label="convection, β = 40",
    coordinates=("t", "x"),
    lower=(0.0, 0.0),
    upper=(1.0, 2.0 * math.pi),
    residual=_convection_residual,
    conditions={
        "initial": (_on_line(0, 0.0, 0.0, 2.0 * math.pi), _equals(lambda z: torch.sin(z[:, 1]))),
        "periodic": (_on_line(1, 0.0, 0.0, 1.0), _periodic_in_x),
    },
    solution=lambda z: np.sin(z[:, 1] - CONVECTION_BETA * z[:, 0]),
    grid=(100, 256),
)


# --------------------------------------------------------------------- Helmholtz
HELMHOLTZ_A = (1.0, 4.0)
HELMHOLTZ_K = 1.0


def helmholtz_solution(z: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """:math:`\\sin(a_1 \\pi x) \\sin(a_2 \\pi y)` at rows ``z`` = (x, y) (numpy or torch)."""
    sin = torch.sin if isinstance(z, Tensor) else np.sin
    return sin(HELMHOLTZ_A[0] * math.pi * z[:, 0]) * sin(HELMHOLTZ_A[1] * math.pi * z[:, 1])


def _helmholtz_residual(u: Network, z: Tensor) -> Tensor:
    value = u(z)
    u_xx = derivative(derivative(value, z, 0), z, 0)
    u_yy = derivative(derivative(value, z, 1), z, 1)
    a1, a2 = HELMHOLTZ_A
    forcing = (HELMHOLTZ_K**2 - (a1**2 + a2**2) * math.pi**2) * helmholtz_solution(z)
    return u_xx + u_yy + HELMHOLTZ_K**2 * value - forcing


def _box_boundary(n: int, generator: torch.Generator) -> Tensor:
    """``n`` points uniformly on the boundary of :math:`[-1, 1]^2` (a random side each)."""
    side = torch.randint(4, (n,), generator=generator)
    along = 2.0 * torch.rand(n, generator=generator, dtype=DTYPE) - 1.0
    fixed = torch.where(side % 2 == 0, -1.0, 1.0).to(DTYPE)
    return torch.where(
        (side < 2).unsqueeze(1), torch.stack((fixed, along), 1), torch.stack((along, fixed), 1)
    )


HELMHOLTZ = Problem(
    name="helmholtz",
    label="Helmholtz, a = (1, 4), k = 1",
    coordinates=("x", "y"),
    lower=(-1.0, -1.0),
    upper=(1.0, 1.0),
    residual=_helmholtz_residual,
    conditions={"boundary": (_box_boundary, _equals(_zero))},
    solution=helmholtz_solution,
    grid=(128, 128),
)


PROBLEMS = {problem.name: problem for problem in (BURGERS, CONVECTION, HELMHOLTZ)}
"""The problems by name: the only list of them."""
