"""Tests of the FUSE optimizer (src/fuse.py): equivalences, convergence, switch rules,
recovery, checkpoints and argument errors. Everything runs on the CPU."""

import io
import math

import numpy as np
import pytest
import scipy.optimize
import torch

from fuse import FUSE


# ---------------------------------------------------------------- helpers
def small_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 1),
    )


def regression_batches(n_batches: int = 10, batch: int = 32, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_batches, batch, 8, generator=gen)
    y = torch.sin(x.sum(-1, keepdim=True)) + 0.1 * torch.randn(n_batches, batch, 1, generator=gen)
    return list(zip(x, y))


def objective_closure(opt, x, objective):
    """The closure of ``opt`` that evaluates ``objective(x)`` and its gradient."""

    def closure():
        opt.zero_grad()
        f = objective(x)
        f.backward()
        return f

    return closure


def make_closure(model, opt, x, y):
    """The closure of the regression loss of ``model`` on the batch ``(x, y)``."""
    return objective_closure(opt, x, lambda v: torch.nn.functional.mse_loss(model(v), y))


def poisoned_closure(model, opt, x, y):
    """As :func:`make_closure`, but the loss (and every gradient) is NaN."""
    return objective_closure(
        opt, x, lambda v: torch.nn.functional.mse_loss(model(v), y) * float("nan")
    )


def run_full_batch(x, objective, **kwargs):
    """One full-batch L-BFGS step of up to 10,000 iterations on ``objective`` from ``x``."""
    opt = FUSE([x], theta=0.0, max_iter=10_000, **kwargs)
    opt.step(objective_closure(opt, x, objective))
    return opt


def train(model, opt, batches, steps, start=0, epoch_len=None):
    """Steps over the batches in order (cycling); end_epoch every epoch_len steps."""
    for k in range(start, start + steps):
        x, y = batches[k % len(batches)]
        opt.step(make_closure(model, opt, x, y))
        if epoch_len and (k + 1) % epoch_len == 0:
            opt.end_epoch()


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def assert_same(a, b):
    for p, q in zip(a, b):
        assert torch.equal(p, q), (p - q).abs().max()


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def half_square(x):
    """f = |x|^2 / 2: its gradient is x and its Hessian the identity."""
    return 0.5 * x.pow(2).sum()


# ---------------------------------------------- Adam phase: torch.optim.Adam
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("amsgrad,weight_decay", [(False, 0.0), (True, 1e-2)])
def test_adam_phase_matches_torch_adam_bitwise(foreach, amsgrad, weight_decay):
    batches = regression_batches()
    ref, ours = small_net(), small_net()

    def groups(m):
        return [
            {"params": m[0].parameters(), "lr": 3e-3},
            {"params": list(m[2].parameters()) + list(m[4].parameters())},
        ]

    opt_ref = torch.optim.Adam(
        groups(ref), lr=1e-3, weight_decay=weight_decay, amsgrad=amsgrad, foreach=foreach
    )
    opt = FUSE(
        groups(ours),
        lr=1e-3,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        foreach=foreach,
        switch="epoch",
        switch_epoch=1000,
    )
    train(ref, opt_ref, batches, 100)
    train(ours, opt, batches, 100)
    assert_same(params_of(ref), params_of(ours))
    assert opt.phase == "adam"


def test_adam_defaults_are_torch_defaults():
    (d,) = [g for g in FUSE([torch.zeros(1, requires_grad=True)]).param_groups]
    (r,) = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).param_groups
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad"):
        assert d[key] == r[key], key


def test_theta_one_is_adam_and_theta_zero_is_the_lbfgs_phase():
    batches = regression_batches()
    ref, ours = small_net(), small_net()
    train(ref, torch.optim.Adam(ref.parameters()), batches, 30)
    train(ours, FUSE(ours.parameters(), theta=lambda step: 1.0), batches, 30)
    assert_same(params_of(ref), params_of(ours))

    blend0, pv = small_net(), small_net()
    opt0 = FUSE(blend0.parameters(), theta=0.0)
    opt_pv = FUSE(pv.parameters(), switch="epoch", switch_step=0)
    train(blend0, opt0, batches, 30)
    train(pv, opt_pv, batches, 30)
    assert_same(params_of(blend0), params_of(pv))
    assert opt0.phase == opt_pv.phase == "lbfgs"
    assert opt_pv.counters["lbfgs_iterations"] == 30


def test_blend_is_the_convex_combination_of_the_two_steps():
    (x, y), theta = regression_batches()[0], 0.3
    adam_net, lbfgs_net, fuse_net = small_net(), small_net(), small_net()
    opt_a = torch.optim.Adam(adam_net.parameters(), lr=1e-2)
    opt_a.step(make_closure(adam_net, opt_a, x, y))
    opt_l = FUSE(lbfgs_net.parameters(), theta=0.0)
    opt_l.step(make_closure(lbfgs_net, opt_l, x, y))
    opt_f = FUSE(fuse_net.parameters(), lr=1e-2, theta=theta)
    opt_f.step(make_closure(fuse_net, opt_f, x, y))
    for pa, pl, pf in zip(adam_net.parameters(), lbfgs_net.parameters(), fuse_net.parameters()):
        torch.testing.assert_close(pf, theta * pa + (1 - theta) * pl, rtol=1e-6, atol=1e-7)
    assert opt_f.phase == "fuse"
    # The blended run keeps Adam's moments: they are those of the pure Adam step.
    p_a, p_f = next(adam_net.parameters()), next(fuse_net.parameters())
    torch.testing.assert_close(opt_f.state[p_f]["exp_avg"], opt_a.state[p_a]["exp_avg"])


# ---------------------------------------- deterministic problems, full batch
def test_strongly_convex_quadratic_kappa_1e3_to_gradient_norm_1e_8():
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(50, 50, generator=gen, dtype=torch.float64))
    a = q @ torch.diag(torch.logspace(0, 3, 50, dtype=torch.float64)) @ q.T  # kappa = 1e3
    x_star = torch.randn(50, generator=gen, dtype=torch.float64)
    x = torch.zeros(50, dtype=torch.float64, requires_grad=True)
    # f = (x - x*)' A (x - x*) / 2, written so that f* = 0 is not lost to cancellation.
    opt = run_full_batch(
        x,
        lambda v: 0.5 * (v - x_star) @ a @ (v - x_star),
        tolerance_grad=1e-10,
        tolerance_change=0.0,
    )
    grad_norm = torch.linalg.vector_norm(a @ (x.detach() - x_star)).item()
    print(f"quadratic: |g| = {grad_norm:.2e} after {opt.counters['closure_evals']} evaluations")
    assert grad_norm < 1e-8
    assert opt.counters["line_search_failures"] == 0


@pytest.mark.parametrize("n", [2, 10, 100])
def test_rosenbrock_against_scipy_lbfgsb(n):
    x0 = np.tile([-1.2, 1.0], n // 2)
    reference = scipy.optimize.minimize(
        scipy.optimize.rosen, x0, jac=scipy.optimize.rosen_der, method="L-BFGS-B"
    )
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    values = []  # f at every closure evaluation

    def objective(v):
        f = rosenbrock(v)
        values.append(f.item())
        return f

    run_full_batch(x, objective, tolerance_grad=1e-12, tolerance_change=0.0)
    assert rosenbrock(x.detach()).item() < 1e-10
    ours = next(i for i, f in enumerate(values, 1) if f < 1e-10)
    print(
        f"Rosenbrock {n}-D: FUSE L-BFGS {ours} closure evaluations to f < 1e-10; "
        f"scipy L-BFGS-B (defaults) {reference.nfev} evaluations, f = {reference.fun:.1e}"
    )
    assert ours <= 1.25 * reference.nfev


def test_fixed_step_lbfgs_converges_on_a_quadratic():
    a = torch.diag(torch.linspace(1.0, 4.0, 10, dtype=torch.float64))
    x = torch.ones(10, dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, line_search=None, lbfgs_lr=0.5, tolerance_change=0.0)
    closure = objective_closure(opt, x, lambda v: 0.5 * v @ a @ v)
    for _ in range(60):
        opt.step(closure)
    assert x.detach().abs().max() < 1e-6
    # Each step evaluates x_k; each iteration then evaluates x_k + t d on the same batch.
    counters = opt.counters
    assert counters["closure_evals"] == counters["step"] + counters["lbfgs_iterations"]


def test_pairs_come_from_one_batch_and_bad_pairs_are_skipped():
    """With a closure that changes its objective between calls the pair would mix
    batches; FUSE evaluates both ends on the closure it is given, so a negative-curvature
    pair can only come from the objective itself, and is then skipped."""
    x = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, line_search=None, lbfgs_lr=0.5)
    opt.step(objective_closure(opt, x, lambda v: -(v**2).sum() + 0.01 * (v**4).sum()))
    assert opt.counters["skipped_pairs"] == 1
    assert opt.counters["history_len"] == 0


# -------------------------------------------------------------- switch rules
def test_epoch_rule_switches_once_at_the_given_epoch():
    batches = regression_batches()
    model = small_net()
    opt = FUSE(model.parameters(), switch="epoch", switch_epoch=2)
    train(model, opt, batches, 5, epoch_len=5)
    assert opt.phase == "adam" and opt.counters["switch_epoch"] is None
    train(model, opt, batches, 5, start=5, epoch_len=5)
    assert opt.counters["switch_epoch"] == 2 and opt.counters["switch_step"] == 10
    assert opt.phase == "lbfgs" and opt.counters["lbfgs_iterations"] == 0
    train(model, opt, batches, 20, start=10, epoch_len=5)
    assert opt.phase == "lbfgs" and opt.counters["switch_epoch"] == 2
    assert opt.counters["lbfgs_iterations"] == 20


def test_step_rule_switches_before_the_given_step():
    batches = regression_batches()
    model = small_net()
    opt = FUSE(model.parameters(), switch="epoch", switch_step=7)
    train(model, opt, batches, 12)
    assert opt.counters["switch_step"] == 7
    assert opt.counters["lbfgs_iterations"] == 5
    assert "switch_step=7" in opt.counters["switch_reason"]


def run_gradient_rule(epochs=12, loss_scale=1.0, **rule):
    """Train with a gradient rule (``switch`` and its threshold in ``rule``) on the
    regression loss times ``loss_scale``; return (epoch means of |g| seen in the Adam
    phase, epoch at which end_epoch reported the switch, the optimizer)."""
    batches = regression_batches()
    model = small_net()
    norms = []
    opt = FUSE(model.parameters(), lr=1e-2, warmup_epochs=3, **rule)

    def closure_recording(x, y):
        def recording():
            opt.zero_grad()
            with torch.enable_grad():
                loss = loss_scale * torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
            if opt.phase == "adam":
                norms.append(torch.sqrt(sum((p.grad**2).sum() for p in model.parameters())))
            return loss

        return recording

    epoch_means, switched_at = [], None
    for epoch in range(1, epochs + 1):
        for x, y in batches:
            opt.step(closure_recording(x, y))
        if opt.phase == "adam":
            epoch_means.append(torch.stack(norms[-len(batches) :]).mean().item())
        if opt.end_epoch():
            switched_at = epoch
    return epoch_means, switched_at, opt


def test_gradient_rule_fires_at_the_first_warm_epoch_below_threshold():
    means, never, _ = run_gradient_rule(switch="gradient", grad_threshold=1e-9)
    assert never is None and len(means) == 12
    threshold = sorted(means)[len(means) // 2]  # crossed somewhere in the run
    expected = next(e for e, m in enumerate(means, 1) if e >= 3 and m < threshold)
    means_seen, switched_at, opt = run_gradient_rule(switch="gradient", grad_threshold=threshold)
    assert switched_at == expected == opt.counters["switch_epoch"]
    assert means_seen == means[:expected]
    last_epoch_grad_norm = opt.state_dict()["fuse"]["last_epoch_grad_norm"]
    assert means[expected - 1] == pytest.approx(last_epoch_grad_norm, rel=1e-5)
    assert opt.phase == "lbfgs" and opt.counters["lbfgs_iterations"] > 0


def test_relative_gradient_rule_compares_with_the_first_epoch_and_ignores_the_loss_scale():
    means, never, _ = run_gradient_rule(switch="relative_gradient", grad_ratio=1e-9)
    assert never is None and len(means) == 12
    ratios = [m / means[0] for m in means]
    ratio = sorted(ratios)[len(ratios) // 2]
    expected = next(e for e, r in enumerate(ratios, 1) if e >= 3 and r < ratio)
    for loss_scale in (1.0, 1000.0):  # Adam's steps, hence the switch epoch, do not move
        _, switched_at, opt = run_gradient_rule(
            loss_scale=loss_scale, switch="relative_gradient", grad_ratio=ratio
        )
        assert switched_at == expected == opt.counters["switch_epoch"]
        assert "grad_ratio" in opt.counters["switch_reason"]
    threshold = means[expected - 1] * 1.01  # the absolute rule's threshold has units
    _, at_scale_1, _ = run_gradient_rule(switch="gradient", grad_threshold=threshold)
    _, at_scale_1000, _ = run_gradient_rule(
        loss_scale=1000.0, switch="gradient", grad_threshold=threshold
    )
    assert at_scale_1 is not None and at_scale_1000 is None


def test_loss_rule_uses_patience_after_warmup_and_never_switches_back():
    model = small_net()
    opt = FUSE(model.parameters(), switch="loss", warmup_epochs=3, patience=2, min_delta=0.01)
    losses = [10.0, 5.0, 4.0, 3.99, 3.98, 3.0, 1.0, 0.5]
    switched = [opt.end_epoch(monitored_loss=v) for v in losses]
    # epoch 4: 3.99 is not 1% below 4.0 (wait 1); epoch 5: 3.98 neither (wait 2) -> switch
    assert switched == [False, False, False, False, True, False, False, False]
    assert opt.counters["switch_epoch"] == 5 and opt.phase == "lbfgs"
    with pytest.raises(TypeError, match="monitored_loss"):
        FUSE(model.parameters(), switch="loss").end_epoch()


def test_loss_rule_waits_for_warmup():
    model = small_net()
    opt = FUSE(model.parameters(), switch="loss", warmup_epochs=4, patience=1)
    switched = [opt.end_epoch(monitored_loss=1.0) for _ in range(5)]
    assert switched == [False, False, False, True, False]


# ------------------------------------------------------ safety and checkpoints
def test_nonfinite_loss_restores_last_good_point_and_keeps_adam_state():
    batches = regression_batches()
    model = small_net()
    opt = FUSE(model.parameters(), switch="epoch", switch_step=5)
    train(model, opt, batches, 8)
    assert opt.counters["history_len"] > 0
    adam_state = {p: {k: v.clone() for k, v in s.items()} for p, s in opt.state.items()}
    before = params_of(model)
    opt.step(poisoned_closure(model, opt, *batches[0]))
    assert_same(before, params_of(model))
    assert opt.counters["nonfinite_recoveries"] == 1
    assert opt.counters["history_len"] == 0
    for p in model.parameters():
        assert torch.equal(adam_state[p]["exp_avg"], opt.state[p]["exp_avg"])
    train(model, opt, batches, 5, start=8)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert opt.counters["history_len"] > 0


def test_nonfinite_batch_in_a_blend_step_leaves_adam_state_and_parameters():
    batches = regression_batches()
    model = small_net()
    opt = FUSE(model.parameters(), theta=0.5)
    train(model, opt, batches, 3)
    before = params_of(model)
    adam_state = {p: {k: v.clone() for k, v in s.items()} for p, s in opt.state.items()}
    opt.step(poisoned_closure(model, opt, *batches[0]))
    assert_same(before, params_of(model))
    for p in model.parameters():
        assert torch.equal(adam_state[p]["exp_avg"], opt.state[p]["exp_avg"])
    train(model, opt, batches, 3, start=3)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nonfinite_trial_is_a_failed_trial_not_a_failed_step():
    x = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, lbfgs_lr=10.0)
    # log barrier: the first trial (far out) is non-finite
    closure = objective_closure(opt, x, lambda v: -torch.log(1.0 - v.pow(2).sum()) + v.sum())

    f0 = closure().item()
    opt.step(closure)
    counters = opt.counters
    assert counters["nonfinite_trials"] >= 1
    assert counters["line_search_failures"] == counters["nonfinite_recoveries"] == 0
    assert counters["history_len"] == 1  # the step was taken, its pair kept
    assert closure().item() < f0 and x.detach().pow(2).sum() < 1
    for _ in range(5):
        opt.step(closure)
    assert torch.isfinite(x).all() and x.detach().pow(2).sum() < 1


@pytest.mark.parametrize("stop_at", [3, 9], ids=["adam-phase", "lbfgs-phase"])
def test_state_dict_round_trip_resumes_the_same_trajectory(stop_at):
    batches = regression_batches()
    settings = dict(switch="epoch", switch_step=6, history_size=3)
    straight = small_net()
    opt_straight = FUSE(straight.parameters(), **settings)
    train(straight, opt_straight, batches, 14)

    first = small_net()
    opt_first = FUSE(first.parameters(), **settings)
    train(first, opt_first, batches, stop_at)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt_first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)

    resumed = small_net(seed=123)
    opt_resumed = FUSE(resumed.parameters(), **settings)
    resumed.load_state_dict(saved["model"])
    opt_resumed.load_state_dict(saved["opt"])
    train(resumed, opt_resumed, batches, 14 - stop_at, start=stop_at)
    assert_same(params_of(straight), params_of(resumed))
    assert opt_resumed.counters == opt_straight.counters


def test_state_dict_is_a_snapshot_and_checks_history_size():
    batches = regression_batches()
    model = small_net()
    opt = FUSE(model.parameters(), switch="epoch", switch_step=2, history_size=3)
    train(model, opt, batches, 5)
    saved = opt.state_dict()
    history = saved["fuse"]["W"].clone()
    train(model, opt, batches, 5, start=5)
    assert torch.equal(saved["fuse"]["W"], history)
    other = FUSE(small_net().parameters(), switch="epoch", switch_step=2, history_size=4)
    with pytest.raises(ValueError, match="'history_size'"):
        other.load_state_dict(saved)


def test_a_state_dict_saved_before_a_key_was_added_loads_with_that_keys_start_value():
    model = small_net()
    opt = FUSE(model.parameters(), switch="epoch", switch_step=2)
    train(model, opt, regression_batches(), 4)
    saved = opt.state_dict()
    del saved["fuse"]["first_epoch_grad_norm"]  # as a checkpoint of an older FUSE
    resumed = FUSE(model.parameters(), switch="epoch", switch_step=2)
    resumed.load_state_dict(saved)
    assert resumed.state_dict()["fuse"]["first_epoch_grad_norm"] is None
    assert resumed.counters == opt.counters


def test_switch_epoch_zero_is_lbfgs_from_the_first_step():
    opt = FUSE(small_net().parameters(), switch="epoch", switch_epoch=0)
    assert opt.phase == "lbfgs" and opt.counters["switch_epoch"] == 0


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(lr=-1.0), "lr"),
        (dict(theta=1.5), "theta"),
        (dict(theta=-0.1), "theta"),
        (dict(switch="sometimes"), "switch"),
        (dict(history_size=0), "history_size"),
        (dict(switch="epoch", theta=0.5), "theta"),
        (dict(line_search="armijo"), "line_search"),
        (dict(betas=(0.9, 1.0)), "betas"),
        (dict(switch_epoch=-1), "switch_epoch"),
        (dict(patience=0), "patience"),
        (dict(max_iter=0), "max_iter"),
        (dict(lbfgs_lr=0.0), "lbfgs_lr"),
        (dict(grad_ratio=0.0), "grad_ratio"),
        (dict(grad_ratio=1.5), "grad_ratio"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}"):
        FUSE(small_net().parameters(), **kwargs)


def test_theta_schedule_out_of_range_is_reported_when_used():
    model = small_net()
    opt = FUSE(model.parameters(), theta=lambda step: 2.0)
    x, y = regression_batches()[0]
    with pytest.raises(ValueError, match="'theta'"):
        opt.step(make_closure(model, opt, x, y))


def test_lbfgs_phase_without_closure_is_a_type_error():
    opt = FUSE(small_net().parameters(), switch="epoch", switch_step=0)
    with pytest.raises(TypeError, match="closure"):
        opt.step()


def test_mixed_dtypes_are_rejected_when_lbfgs_may_run():
    params = [
        torch.zeros(2, requires_grad=True),
        torch.zeros(2, dtype=torch.float64, requires_grad=True),
    ]
    with pytest.raises(ValueError, match="'params'"):
        FUSE(params, switch="epoch")
    FUSE(params)  # pure Adam is fine


# ----------------------------------------------------------- host transfers
@pytest.mark.parametrize("max_iter,max_eval", [(1, None), (20, 4)])
def test_one_host_read_per_closure_evaluation(monkeypatch, max_iter, max_eval):
    """By design the L-BFGS phase reads the device once per closure evaluation, plus once
    per further iteration on the same batch; Adam steps never read it."""
    reads = []
    # FUSE._to_host is private, but the host reads it makes are what this test counts and
    # no public counter reports them.
    original = FUSE._to_host
    monkeypatch.setattr(
        FUSE, "_to_host", staticmethod(lambda *s: reads.append(len(s)) or original(*s))
    )
    batches = regression_batches()
    model = small_net()
    opt = FUSE(
        model.parameters(), switch="epoch", switch_step=10, max_iter=max_iter, max_eval=max_eval
    )
    train(model, opt, batches, 10)
    assert reads == []
    train(model, opt, batches, 10, start=10)
    counters = opt.counters
    evals, steps = counters["closure_evals"] - 10, 10
    further_iterations = counters["lbfgs_iterations"] - steps
    assert len(reads) == evals + further_iterations
    assert max_iter == 1 or further_iterations > 0


def test_max_eval_stops_iterating_like_torch_lbfgs():
    x = torch.tensor(np.tile([-1.2, 1.0], 5), dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, max_iter=20, max_eval=4)
    iteration_at_call = []  # the iteration each closure evaluation belongs to

    def objective(v):
        iteration_at_call.append(opt.counters["lbfgs_iterations"])
        return rosenbrock(v)

    opt.step(objective_closure(opt, x, objective))
    last = opt.counters["lbfgs_iterations"]
    # The last iteration started with fewer than 4 evaluations used, and no other
    # iteration followed once 4 were used (its line search may end past 4).
    assert 1 < last < 20
    assert sum(1 for i in iteration_at_call if i < last) < 4 <= len(iteration_at_call)


# ------------------------------------------- line search near the float limits
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cubic_interpolation_is_finite_and_inside_its_bracket_near_the_float_limits(dtype):
    from fuse import _cubic_minimizer  # private: the interpolation itself is what is tested

    big = torch.finfo(dtype).max
    cases = [
        (0.0, 583.4, -4.3e5, 1.0, 1.6859e165, 6.866e167),  # overflowed d1*d1 before
        (0.0, 1.0, -big, 1.0, big, big),
        (0.0, -big, -1.0, 2.0, big, 1.0),
        (0.0, 1.0, -1.0, 1.0, float("inf"), float("nan")),  # a non-finite trial
        (0.0, 1.0, -1.0, 1e-300, 1.0, -1.0),
        (0.5, 0.0, 0.0, 0.5, 0.0, 0.0),  # 0/0
    ]
    for t1, f1, g1, t2, f2, g2 in cases:
        values = [float(torch.tensor(v, dtype=torch.float64).to(dtype)) for v in (f1, g1, f2, g2)]
        f1, g1, f2, g2 = values
        t = _cubic_minimizer(t1, f1, g1, t2, f2, g2)
        assert math.isfinite(t) and min(t1, t2) <= t <= max(t1, t2), (t1, f1, g1, t2, f2, g2, t)
        lo, hi = t2 + 0.01 * (t2 - t1), 10.0 * t2
        if hi > lo:
            t = _cubic_minimizer(t1, f1, g1, t2, f2, g2, bounds=(lo, hi))
            assert math.isfinite(t) and lo <= t <= hi


@pytest.mark.parametrize("scale", [10.0, 100.0])
def test_far_start_rosenbrock_reaches_the_minimum_through_huge_trial_values(scale):
    """From 10x and 100x the standard start, trial points reach f ~ 1e160 and beyond,
    where the interpolation overflowed (NaN trial steps) before; now every trial step
    is finite and the run reaches the minimum."""
    x = torch.tensor(scale * np.tile([-1.2, 1.0], 5), dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, full_batch=True, tolerance_grad=0.0, tolerance_change=0.0)
    closure = objective_closure(opt, x, rosenbrock)
    f0 = closure().item()
    for _ in range(3000):
        opt.step(closure)
        if rosenbrock(x.detach()).item() < 1e-10:
            break
    assert f0 > 1e6 and rosenbrock(x.detach()).item() < 1e-10
    assert torch.isfinite(x).all()


def test_a_failed_search_is_not_repeated_the_next_step_tries_a_shorter_step():
    """A function that is finite only within 1e-6 of the origin: every trial of the first
    search is non-finite, the step is undone, and the next step starts 10x shorter."""
    x = torch.tensor([1e-7, 0.0], dtype=torch.float64, requires_grad=True)
    trials = []

    def objective(v):
        trials.append(v.detach().norm().item())
        return v.sum() - torch.log(1e-6 - v.pow(2).sum().sqrt())  # finite for |v| < 1e-6

    opt = FUSE([x], theta=0.0, max_ls=3)
    closure = objective_closure(opt, x, objective)
    opt.step(closure)
    first = opt.counters
    assert first["line_search_failures"] == 1 and first["nonfinite_trials"] == 3
    assert x.detach().tolist() == [1e-7, 0.0]
    first_trials = trials[1:]
    trials.clear()
    opt.step(closure)
    assert max(trials[1:]) < max(first_trials)
    f0 = closure().item()
    for _ in range(10):
        opt.step(closure)
    assert closure().item() < f0  # the shorter steps got inside the domain


# -------------------------------------------------------------- full batch
def test_full_batch_reuses_the_accepted_point_and_takes_the_same_steps():
    x0 = np.tile([-1.2, 1.0], 5)
    runs = {}
    for full_batch in (False, True):
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        opt = FUSE([x], theta=0.0, full_batch=full_batch)
        closure = objective_closure(opt, x, rosenbrock)
        for _ in range(30):
            opt.step(closure)
        runs[full_batch] = (x.detach(), opt.counters)
    (x_default, default), (x_full, full) = runs[False], runs[True]
    torch.testing.assert_close(x_full, x_default, rtol=1e-12, atol=1e-12)
    assert full["lbfgs_iterations"] == default["lbfgs_iterations"] == 30
    assert full["reused_evaluations"] == 29  # every step but the first
    assert full["closure_evals"] == default["closure_evals"] - 29


def test_full_batch_evaluates_again_after_a_parameter_changed():
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, full_batch=True)
    closure = objective_closure(opt, x, rosenbrock)
    opt.step(closure)
    opt.step(closure)
    assert opt.counters["reused_evaluations"] == 1
    with torch.no_grad():
        x.add_(0.01)  # e.g. a projection or a checkpoint load by the user
    evals = opt.counters["closure_evals"]
    loss = opt.step(closure)
    assert opt.counters["reused_evaluations"] == 1
    assert opt.counters["closure_evals"] > evals
    assert loss.item() == pytest.approx(
        rosenbrock(torch.tensor([-1.2, 1.0]).double()).item(), rel=1.0
    ) and torch.isfinite(loss)


# ------------------------------------------------- fail early, step length
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(theta=0.5),
        dict(theta=0.0),
        dict(switch="epoch", switch_epoch=5),
        dict(switch="gradient"),
        dict(theta=lambda step: 1.0),
    ],
)
def test_a_fuse_that_will_need_lbfgs_refuses_its_first_step_without_a_closure(kwargs):
    model = small_net()
    opt = FUSE(model.parameters(), **kwargs)
    x, y = regression_batches()[0]
    torch.nn.functional.mse_loss(model(x), y).backward()
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    assert opt.counters["step"] == 0


def test_pure_adam_fuse_steps_without_a_closure_like_torch_adam():
    ref, ours = small_net(), small_net()
    opt_ref, opt = torch.optim.Adam(ref.parameters()), FUSE(ours.parameters())
    x, y = regression_batches()[0]
    for model, o in ((ref, opt_ref), (ours, opt)):
        torch.nn.functional.mse_loss(model(x), y).backward()
        o.step()
    assert_same(params_of(ref), params_of(ours))


def test_lbfgs_step_length_lives_in_the_param_groups_and_is_checkpointed():
    x = torch.full((4,), 10.0, dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, line_search=None, lbfgs_lr=0.5)
    assert opt.param_groups[0]["lbfgs_lr"] == 0.5
    opt.param_groups[0]["lbfgs_lr"] = 0.25
    closure = objective_closure(opt, x, half_square)
    opt.step(closure)
    # empty history: t0 = lbfgs_lr * min(1, 1/|d|), |d| = |x0| = 20, so x moves 0.25
    assert (x.detach() - 10.0).norm().item() == pytest.approx(0.25)
    state = opt.state_dict()
    assert state["param_groups"][0]["lbfgs_lr"] == 0.25
    other = FUSE([torch.zeros(4, dtype=torch.float64, requires_grad=True)], theta=0.0)
    other.load_state_dict(state)
    assert other.param_groups[0]["lbfgs_lr"] == 0.25


def test_a_torch_scheduler_drives_the_lbfgs_step_when_asked():
    steps = {}
    for scheduled in (False, True):
        x = torch.ones(3, dtype=torch.float64, requires_grad=True)
        opt = FUSE([x], theta=0.0, line_search=None, lbfgs_lr=0.5, lbfgs_lr_scheduled=scheduled)
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1**k)
        closure = objective_closure(opt, x, half_square)
        lengths = []
        for _ in range(3):
            before = x.detach().clone()
            opt.step(closure)
            scheduler.step()
            lengths.append((x.detach() - before).norm().item())
        steps[scheduled] = lengths
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.1**3)  # Adam's lr
    # |d_0| = |x_0| = sqrt(3): t0 = 0.5 / sqrt(3), the first move is 0.5 either way
    assert steps[False][0] == pytest.approx(0.5) == steps[True][0]
    # on f = |x|^2/2 the first pair gives H = I, so x_{k+1} = (1 - t_k) x_k moves by
    # t_k |x_k|: t_k = 0.5 unscheduled, 0.5 * 0.1^k scheduled (x_1 is the same in both)
    assert steps[True][1] == pytest.approx(0.1 * steps[False][1])
    assert steps[True][2] == pytest.approx(0.1 * (1 - 0.05) * steps[True][1])


def test_param_groups_with_different_lbfgs_steps_are_refused_at_the_lbfgs_step():
    a = torch.ones(2, dtype=torch.float64, requires_grad=True)
    b = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = FUSE([{"params": [a]}, {"params": [b], "lbfgs_lr": 0.5}], theta=0.0)
    closure = objective_closure(opt, a, lambda v: v.pow(2).sum() + b.pow(2).sum())
    with pytest.raises(ValueError, match="'lbfgs_lr'"):
        opt.step(closure)


# ----------------------------------------------- state that does not fit, bad closures
def test_load_state_dict_refuses_state_saved_for_other_parameters():
    batches = regression_batches()
    model = small_net()
    opt = FUSE(model.parameters(), switch="epoch", switch_step=2)
    train(model, opt, batches, 4)
    saved = opt.state_dict()
    wider = torch.nn.Sequential(
        torch.nn.Linear(8, 17),
        torch.nn.Tanh(),
        torch.nn.Linear(17, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 1),
    )
    with pytest.raises(ValueError, match=r"parameter 0 is \(17, 8\)"):
        FUSE(wider.parameters(), switch="epoch", switch_step=2).load_state_dict(saved)
    fewer = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    with pytest.raises(ValueError, match="holds 6 parameters, this optimizer has 4"):
        FUSE(fewer.parameters(), switch="epoch", switch_step=2).load_state_dict(saved)
    double = small_net().double()
    with pytest.raises(ValueError, match="float64"):
        FUSE(double.parameters(), switch="epoch", switch_step=2).load_state_dict(saved)


def test_lbfgs_history_for_another_size_is_refused():
    a = torch.zeros(40, dtype=torch.float64, requires_grad=True)
    opt = FUSE([a], theta=0.0)
    opt.step(objective_closure(opt, a, lambda v: (v - 1).pow(2).sum()))
    saved = opt.state_dict()
    saved["state"] = {}
    b = torch.zeros(80, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="L-BFGS history was saved for 40 values"):
        FUSE([b], theta=0.0).load_state_dict(saved)


def test_a_closure_without_backward_is_an_error_not_convergence():
    x = torch.ones(3, requires_grad=True)
    opt = FUSE([x], theta=0.0)
    with pytest.raises(RuntimeError, match="backward"):
        opt.step(lambda: (x**2).sum())


def test_sparse_gradients_in_the_lbfgs_phase_are_refused_by_name():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = FUSE(emb.parameters(), theta=0.0)
    closure = objective_closure(opt, torch.tensor([1, 2]), lambda i: emb(i).sum())
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step(closure)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(lr="abc"), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(lbfgs_lr=float("inf")), "lbfgs_lr"),
        (dict(min_delta=float("nan")), "min_delta"),
        (dict(grad_threshold=float("inf")), "grad_threshold"),
        (dict(eps=True), "eps"),
        (dict(betas=(0.9, "x")), "betas"),
    ],
)
def test_values_that_are_not_finite_numbers_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}': must be a finite real number"):
        FUSE(small_net().parameters(), **kwargs)


def test_a_nonfinite_monitored_loss_never_makes_the_loss_rule_switch():
    opt = FUSE(small_net().parameters(), switch="loss", warmup_epochs=1, patience=2)
    switched = [
        opt.end_epoch(monitored_loss=v)
        for v in [1.0, float("nan"), float("inf"), float("nan"), 0.5]
    ]
    assert switched == [False] * 5 and opt.phase == "adam"
    assert opt.state_dict()["fuse"]["nonfinite_monitored_losses"] == 3


def test_a_history_that_lost_positive_definiteness_is_dropped_not_a_stall():
    """Flip the stored y of the newest pair, so that its device s'y is negative although
    the host test passed (what rounding could do): the next direction is no descent
    direction; FUSE drops the history instead of stalling, and goes on towards the minimum."""
    x = torch.tensor(np.tile([-1.2, 1.0], 2), dtype=torch.float64, requires_grad=True)
    opt = FUSE([x], theta=0.0, full_batch=True, history_size=1)
    closure = objective_closure(opt, x, rosenbrock)
    for _ in range(5):
        opt.step(closure)
    state = opt.state_dict()
    assert state["fuse"]["pending_pair"] and state["fuse"]["history_len"] == 1
    state["fuse"]["W"][1] *= -1.0  # the only pair's y (history_size=1: rows s, y)
    opt.load_state_dict(state)
    for _ in range(300):
        opt.step(closure)
    assert opt.counters["indefinite_resets"] >= 1
    assert rosenbrock(x.detach()).item() < 1e-8  # from f = 4.3 at the reset
