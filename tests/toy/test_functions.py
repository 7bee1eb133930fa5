"""The toy-ablation test functions: minima, gradients, the registry, random starts, the noisy
and finite-sum objectives and the success criterion. Fast, CPU, float64."""

import math

import pytest
import torch

from fuse_repro.toy import functions
from fuse_repro.toy.functions import (
    NAMES,
    FiniteSumObjective,
    NoisyObjective,
    get,
    random_starts,
    success,
)

ND_NAMES = ("rosenbrock", "extended_rosenbrock", "rastrigin", "ackley", "styblinski_tang")
CASES = [(name, None) for name in NAMES] + [
    ("rosenbrock", 5),
    ("extended_rosenbrock", 6),
    ("rastrigin", 1),
    ("rastrigin", 7),
    ("ackley", 1),
    ("ackley", 4),
    ("styblinski_tang", 3),
]
IDS = [f"{name}-{dim}" for name, dim in CASES]


def _hand(name, x):
    """Each formula written out from its source in plain Python, independent of the module."""
    d = len(x)
    if name == "rosenbrock":
        return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(d - 1))
    if name == "extended_rosenbrock":
        return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(0, d, 2))
    if name == "beale":
        u, v = x
        return sum((c - u + u * v ** (i + 1)) ** 2 for i, c in enumerate((1.5, 2.25, 2.625)))
    if name == "himmelblau":
        u, v = x
        return (u * u + v - 11) ** 2 + (u + v * v - 7) ** 2
    if name == "rastrigin":
        return 10 * d + sum(t * t - 10 * math.cos(2 * math.pi * t) for t in x)
    if name == "ackley":
        return (
            -20 * math.exp(-0.2 * math.sqrt(sum(t * t for t in x) / d))
            - math.exp(sum(math.cos(2 * math.pi * t) for t in x) / d)
            + 20
            + math.e
        )
    if name == "six_hump_camel":
        u, v = x
        return (4 - 2.1 * u**2 + u**4 / 3) * u**2 + u * v + (-4 + 4 * v**2) * v**2
    if name == "styblinski_tang":
        return sum(t**4 - 16 * t**2 + 5 * t for t in x) / 2
    raise AssertionError(name)


def _grad(f, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


@pytest.mark.parametrize("name,dim", CASES, ids=IDS)
def test_metadata_is_consistent(name, dim):
    fn = get(name, dim)
    d = 2 if dim is None else dim
    assert (fn.name, fn.dim) == (name, d)
    assert fn.minimizers.dtype == torch.float64 and fn.minimizers.shape[1] == d
    low, high = fn.domain
    assert low.shape == high.shape == (d,) and bool((low < high).all())
    assert bool(((fn.minimizers >= low) & (fn.minimizers <= high)).all())
    if fn.standard_start is not None:
        assert fn.standard_start.shape == (d,) and fn.standard_start.dtype == torch.float64
    assert fn.reference


@pytest.mark.parametrize("name,dim", CASES, ids=IDS)
def test_minimizers_attain_the_minimum_and_are_stationary(name, dim):
    fn = get(name, dim)
    for m in fn.minimizers:
        assert abs(fn.f(m).item() - fn.minimum_value) <= 1e-10
        # Ackley has a kink at its minimiser: autograd returns the subgradient 0 there (below).
        assert torch.linalg.vector_norm(_grad(fn.f, m)).item() <= 1e-8
        if name != "ackley":  # not twice differentiable at its minimiser
            hessian = torch.autograd.functional.hessian(fn.f, m)
            assert torch.linalg.eigvalsh(hessian).min().item() > 0


def test_known_minimizer_counts():
    assert get("himmelblau").minimizers.shape == (4, 2)
    assert get("six_hump_camel").minimizers.shape == (2, 2)
    assert get("six_hump_camel").minimum_value == pytest.approx(-1.0316284535, abs=1e-10)
    assert get("styblinski_tang", 3).minimum_value == pytest.approx(-39.16616570377 * 3)


def test_ackley_is_kinked_at_its_minimizer():
    """Not differentiable at 0: as x -> 0 along a ray the gradient norm tends to
    20 * 0.2 / sqrt(d), not 0, while autograd gives the valid subgradient 0 at 0 (not NaN)."""
    fn = get("ackley", 3)
    assert torch.equal(_grad(fn.f, torch.zeros(3, dtype=torch.float64)), torch.zeros(3))
    direction = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for eps in (1e-5, 1e-7, 1e-9):
        norm = torch.linalg.vector_norm(_grad(fn.f, eps * direction)).item()
        assert norm == pytest.approx(20 * 0.2 / math.sqrt(3), rel=1e-3)


@pytest.mark.parametrize("name,dim", CASES, ids=IDS)
def test_value_matches_hand_formula_and_gradient_matches_finite_differences(name, dim):
    fn = get(name, dim)
    h = 1e-6
    for x in random_starts(fn, 5, seed=1):
        assert fn.f(x).item() == pytest.approx(_hand(name, x.tolist()), rel=1e-12, abs=1e-12)
        fd = torch.stack(
            [
                (fn.f(x + h * e) - fn.f(x - h * e)) / (2 * h)
                for e in torch.eye(fn.dim, dtype=torch.float64)
            ]
        )
        torch.testing.assert_close(_grad(fn.f, x), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,dim", CASES, ids=IDS)
def test_batched_evaluation_matches_pointwise(name, dim):
    fn = get(name, dim)
    xs = random_starts(fn, 4, seed=2)
    torch.testing.assert_close(fn.f(xs), torch.stack([fn.f(x) for x in xs]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,dim", CASES, ids=IDS)
def test_no_point_in_the_domain_beats_the_minimum(name, dim):
    fn = get(name, dim)
    values = fn.f(random_starts(fn, 20000, seed=3))
    assert values.shape == (20000,)
    assert values.min().item() >= fn.minimum_value - 1e-12


def test_standard_rosenbrock_starts():
    two = get("rosenbrock")
    assert two.standard_start.tolist() == [-1.2, 1.0]
    assert two.f(two.standard_start).item() == pytest.approx(24.2, rel=1e-14)
    # MGH's extended form is independent pairs: 24.2 per pair; the chained form couples them.
    ext = get("extended_rosenbrock", 4)
    assert ext.standard_start.tolist() == [-1.2, 1.0, -1.2, 1.0]
    assert ext.f(ext.standard_start).item() == pytest.approx(48.4, rel=1e-14)
    chained = get("rosenbrock", 5)
    assert chained.standard_start.tolist() == [-1.2, 1.0, -1.2, 1.0, -1.2]
    assert chained.f(chained.standard_start).item() == pytest.approx(2 * 24.2 + 2 * 484, rel=1e-14)
    assert get("beale").f(get("beale").standard_start).item() == pytest.approx(14.203125)


def test_registry_rejects_unknown_names_and_bad_dims():
    with pytest.raises(ValueError, match="unknown test function 'griewank'.*rosenbrock"):
        get("griewank")
    for name, dim in [("beale", 3), ("himmelblau", 1), ("six_hump_camel", 4), ("beale", True)]:
        with pytest.raises(ValueError, match=rf"'{name}' is defined for dim=2 only, got dim={dim}"):
            get(name, dim)
    for name, dim in [
        ("rosenbrock", 1),
        ("extended_rosenbrock", 3),
        ("rastrigin", 0),
        ("ackley", -2),
        ("styblinski_tang", 2.5),
    ]:
        with pytest.raises(ValueError, match=rf"'{name}' needs dim .*got dim={dim}"):
            get(name, dim)
    assert get("beale", 2).dim == 2 and all(get(name).dim == 2 for name in NAMES)


def test_random_starts_are_reproducible_and_inside_the_domain():
    fn = get("six_hump_camel")
    a = random_starts(fn, 1000, seed=7)
    assert a.shape == (1000, 2) and a.dtype == torch.float64
    assert torch.equal(a, random_starts(fn, 1000, seed=7))
    assert not torch.equal(a, random_starts(fn, 1000, seed=8))
    low, high = fn.domain
    assert bool(((a >= low) & (a <= high)).all())
    # The box is filled, not just a corner of it.
    assert bool((a.min(0).values < low + 0.1).all() and (a.max(0).values > high - 0.1).all())


def test_global_rng_is_untouched():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    random_starts(get("ackley"), 5, seed=1)
    NoisyObjective(get("ackley"), 0.1, seed=1).batch()
    assert torch.equal(torch.rand(3), expected)


def test_noise_zero_is_exactly_f():
    fn = get("rosenbrock", 3)
    objective = NoisyObjective(fn, 0.0, seed=0)
    for x in random_starts(fn, 5, seed=0):
        objective.batch()
        assert torch.equal(objective(x), fn.f(x))
        assert torch.equal(_grad(objective, x), _grad(fn.f, x))


def test_noise_is_fixed_within_a_batch_and_changes_between_batches():
    fn = get("himmelblau")
    objective = NoisyObjective(fn, 0.5, seed=0)
    x = torch.tensor([0.3, -1.1], dtype=torch.float64)
    first = objective(x)
    assert torch.equal(objective(x), first) and torch.equal(objective(x.clone()), first)
    gradient = _grad(objective, x)
    assert torch.equal(_grad(objective, x), gradient)
    objective.batch()
    assert not torch.equal(objective(x), first)
    assert not torch.equal(_grad(objective, x), gradient)


def test_noise_is_reproducible_per_seed_and_differs_across_seeds():
    fn = get("ackley", 3)
    x = torch.tensor([0.5, -0.25, 2.0], dtype=torch.float64)

    def trace(seed):
        objective = NoisyObjective(fn, 0.1, seed)
        values = []
        for _ in range(4):
            values.append(objective(x))
            objective.batch()
        return torch.stack(values)

    assert torch.equal(trace(3), trace(3))
    assert not torch.equal(trace(3), trace(4))


def test_noisy_gradient_is_unbiased_with_the_stated_noise():
    """Over 20000 batches the noisy gradient averages to the true gradient within 4 standard
    errors, its per-coordinate std is noise_scale, and the value noise has mean 0 and std
    noise_scale * sqrt(1 + |x|^2)."""
    fn, scale, n = get("rosenbrock", 3), 0.7, 20000
    x = torch.tensor([0.4, -0.8, 1.3], dtype=torch.float64, requires_grad=True)
    objective = NoisyObjective(fn, scale, seed=11)
    values, grads = torch.empty(n, dtype=torch.float64), torch.empty(n, 3, dtype=torch.float64)
    for i in range(n):
        objective.batch()
        value = objective(x)
        (grads[i],) = torch.autograd.grad(value, x)
        values[i] = value.detach()
    true_value, true_grad = fn.f(x).detach(), _grad(fn.f, x.detach())
    grad_noise, value_noise = grads - true_grad, values - true_value
    assert bool((grad_noise.mean(0).abs() <= 4 * scale / math.sqrt(n)).all())
    torch.testing.assert_close(
        grad_noise.std(0), torch.full((3,), scale, dtype=torch.float64), rtol=0.03, atol=0
    )
    value_std = scale * math.sqrt(1 + x.detach().square().sum().item())
    assert abs(value_noise.mean().item()) <= 4 * value_std / math.sqrt(n)
    assert value_noise.std().item() == pytest.approx(value_std, rel=0.03)


def test_noisy_objective_rejects_negative_noise():
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="noise_scale must be >= 0"):
            NoisyObjective(get("beale"), bad, seed=0)


def test_a_longer_stream_of_starts_begins_with_the_shorter_one():
    """Selection starts are starts n..2n-1 of the seeded stream: the first n must not
    depend on how many are drawn."""
    for fn in (get("rosenbrock", 10), get("beale")):
        assert torch.equal(random_starts(fn, 100, seed=3), random_starts(fn, 200, seed=3)[:100])


FINITE_SUM = {"terms": 16, "batch": 4, "cycles": 1.0}


def _finite_sum(fn, scale, seed=0, start=None, **model):
    start = random_starts(fn, 1, seed=5)[0] if start is None else start
    return FiniteSumObjective(fn, scale, seed, start, **(FINITE_SUM | model))


def test_finite_sum_terms_average_to_f_exactly():
    fn = get("six_hump_camel")
    objective = _finite_sum(fn, 0.5)
    objective._chosen = torch.arange(objective.terms)  # every term at once: their mean is f
    for x in random_starts(fn, 5, seed=1):
        torch.testing.assert_close(objective(x), fn.f(x), rtol=0, atol=1e-12)
    objective.batch()
    x = torch.tensor([0.3, -0.2], dtype=torch.float64)
    assert abs(objective(x).item() - fn.f(x).item()) > 1e-3  # a batch alone is not f


def test_finite_sum_noise_zero_is_exactly_f_and_seeds_fix_the_batches():
    fn = get("rosenbrock", 3)
    x = torch.tensor([0.5, -0.25, 2.0], dtype=torch.float64)
    assert torch.equal(_finite_sum(fn, 0.0)(x), fn.f(x))

    def trace(seed):
        objective, values = _finite_sum(fn, 0.1, seed), []
        for _ in range(4):
            values.append(objective(x))
            assert torch.equal(objective(x), values[-1])  # fixed within a batch
            objective.batch()
        return torch.stack(values)

    assert torch.equal(trace(3), trace(3))
    assert not torch.equal(trace(3), trace(4))
    assert len(set(trace(3).tolist())) == 4  # a new batch each time


def test_finite_sum_batch_gradient_error_is_relative_to_the_start_gradient():
    """Averaged over 100 draws of the terms and 40 batches each, the batch gradient's error
    at the start has mean square (scale * |grad f(x0)|)^2 (within 10 %), at two functions
    whose start gradients differ by orders of magnitude: the noise is relative."""
    for fn in (get("rosenbrock", 2), get("himmelblau")):
        start = random_starts(fn, 1, seed=2)[0]
        true = _grad(fn.f, start)
        squares = []
        for seed in range(100):
            objective = _finite_sum(fn, 0.3, seed, start)
            for _ in range(40):
                objective.batch()
                squares.append((_grad(objective, start) - true).square().sum())
        expected = (0.3 * torch.linalg.vector_norm(true)) ** 2
        assert torch.stack(squares).mean().item() == pytest.approx(expected.item(), rel=0.1)


def test_finite_sum_curvature_is_noisy_where_the_tilt_leaves_it_exact():
    fn = get("rosenbrock", 2)
    x = torch.tensor([0.2, 0.7], dtype=torch.float64)
    exact = torch.autograd.functional.hessian(fn.f, x)
    tilt = torch.autograd.functional.hessian(NoisyObjective(fn, 1.0, seed=0), x)
    finite_sum = torch.autograd.functional.hessian(_finite_sum(fn, 0.3), x)
    torch.testing.assert_close(tilt, exact)
    assert (finite_sum - exact).abs().max().item() > 1.0


def test_finite_sum_batches_stay_bounded_below_far_out():
    """Each term's perturbation is at most its amplitude, so a batch of a function bounded
    below stays bounded below (the tilt's is not): on Ackley, far out, the batch is
    within that amplitude of f."""
    fn = get("ackley", 2)
    objective = _finite_sum(fn, 1.0)
    amplitude = objective._amplitudes.abs().max().item()
    for far in (1e3, 1e6):
        x = torch.tensor([far, -far], dtype=torch.float64)
        assert abs(objective(x).item() - fn.f(x).item()) <= amplitude
    tilt = NoisyObjective(fn, 1.0, seed=0)
    assert tilt(-1e6 * tilt._direction).item() < -1e5  # the tilt's batch is unbounded below


def test_finite_sum_rejects_bad_arguments():
    fn = get("beale")
    with pytest.raises(ValueError, match="noise_scale must be >= 0"):
        _finite_sum(fn, -1.0)
    for model in ({"terms": 15}, {"batch": 16}, {"batch": 0}):
        with pytest.raises(ValueError, match="even terms"):
            _finite_sum(fn, 0.1, **model)


def test_success_is_distance_to_the_nearest_global_minimizer():
    fn = get("himmelblau")
    near = fn.minimizers + torch.tensor([3e-4, -4e-4], dtype=torch.float64)  # distance 5e-4
    assert success(fn, near, tol=1e-3).tolist() == [True] * 4
    assert success(fn, near, tol=1e-4).tolist() == [False] * 4
    single = success(fn, near[2], tol=1e-3)
    assert single.shape == () and bool(single)
    # A Rastrigin local minimum (near the lattice point e_1) has a small value gap but is a
    # different basin: it does not count.
    ras = get("rastrigin", 2)
    local = torch.tensor([0.99496, 0.0], dtype=torch.float64)
    assert ras.f(local).item() < 1.0 and not bool(success(ras, local, tol=0.4))
    assert bool(success(ras, torch.tensor([0.1, 0.0], dtype=torch.float64), tol=0.4))


def test_test_function_is_frozen():
    fn = functions.get("beale")
    with pytest.raises(AttributeError):
        fn.dim = 3
