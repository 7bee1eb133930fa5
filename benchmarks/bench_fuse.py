"""Benchmark FUSE (src/fuse.py) against torch.optim.Adam and torch.optim.LBFGS.

Usage::

    python benchmarks/bench_fuse.py [--device cpu|cuda] [--repeats N] [--lbfgs-repeats N]
                                    [--threads N] [--models cnn mlp] [--out results.json]

Everything is measured in one process on one machine and judged only by ratios
FUSE / torch against the targets; absolute times are printed for context, never checked.
On CUDA every timed call is bracketed by ``torch.cuda.synchronize()``.

Models (random inputs and labels from a fixed seed, cross-entropy over 10 classes):

* ``cnn``: conv(1->16, 3x3, stride 2)-ReLU-conv(16->32, 3x3, stride 2)-ReLU-linear(1568->10)
  on 28x28x1 inputs, batch 64 (20,490 parameters). Strided convolutions rather than
  max-pooling: with max-pooling the CPU closure cost moved by ~7% with the parameter
  values, so the two L-BFGS runs (at different points) differed by closure cost alone;
* ``mlp``: 784-1024-256-10 with ReLU, batch 256 (1,068,810 parameters).

1. Adam phase (target: ratio <= 1.05). ``FUSE(switch="epoch", switch_epoch=10**9)`` never
   leaves its Adam phase. It and ``torch.optim.Adam`` each own a copy of the model whose
   ``p.grad`` are the same fixed tensors (computed once, re-used by every step), so only
   ``optimizer.step(closure)`` is timed, without forward/backward noise: the closure
   returns a fixed loss (FUSE-PV needs a closure from its first step on). Both run with
   ``foreach=True`` (the row with the target) and with ``foreach`` at its default.
   After a warm-up, single steps are timed in interleaved rounds whose order alternates
   (AB, BA, ...) to cancel drift; each side reports its median.

2. L-BFGS phase (target: ratio <= 0.8). ``FUSE(theta=0.0, history_size=10,
   line_search="strong_wolfe", max_iter=1, max_ls=25)`` against
   ``torch.optim.LBFGS(history_size=10, line_search_fn="strong_wolfe", max_iter=1,
   max_eval=26)``, both with step length 1 and the same tolerances, on a closure over
   one fixed mini-batch (zero_grad, forward, loss, backward). One ``step()`` is one
   iteration for both: torch evaluates the closure at :math:`x_k`, then at its
   line-search trials; FUSE evaluates at :math:`x_k`, then at its line-search trials.

   ``max_eval=26`` gives torch's line search FUSE's budget of 25 evaluations. With its
   default ``max_eval = max_iter * 5 // 4 = 1``, torch hands its line search
   ``max_ls=0``: it evaluates the one trial ``t=1`` and returns ``t=0`` whenever that
   trial does not lower the loss; the history then never changes, every later step
   repeats the failed trial, and on these models the history never fills.

   Each optimizer is warmed up until its history holds 10 pairs; that state (parameters
   and optimizer state) is saved and restored before every timed iteration, so every
   sample is the same iteration from a full history. The closure alone, at each
   optimizer's starting point, is timed in the same interleaved rounds.
   Reported per model:

   * time per iteration (median) and closure evaluations per iteration (counted);
   * time per closure evaluation = time per iteration / evaluations per iteration: equal
     closure work by construction (target row);
   * time per iteration ratio (target row): it compares equal closure work only where both
     used the same number of evaluations, which the table states;
   * optimizer overhead per iteration = time per iteration - evaluations x closure time,
     the optimizer's own cost (context, no target).

3. L-BFGS overhead at n = 10^2, 10^4 and 10^6 parameters (``--sizes``; target: ratio
   <= 0.5). The same two optimizers and protocol as 2. on :class:`Separable`, a cheap
   smooth objective in four parameter tensors, so that an iteration is mostly the
   optimizer's own work. Also counted, with the torch profiler on one iteration: the
   operators each optimizer calls outside the closure (top-level ``aten::`` ops; on a GPU
   each is a kernel launch or a view), and FUSE's for its direction alone. Beside them, the
   time of two passes over FUSE's full history (``torch.mv`` with ``W`` and with ``W^T``):
   the memory traffic any exact direction from the compact representation needs, a floor
   of FUSE's overhead, as a ratio to torch's whole overhead (context, no target).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from fuse import FUSE

ADAM_TARGET = 1.05
LBFGS_TARGET = 0.8
HISTORY_SIZE = 10
MAX_LS = 25
ADAM_WARMUP_STEPS = 10
OVERHEAD_TARGET = 0.5
MODELS = ("cnn", "mlp")
BATCH_SIZE = {"cnn": 64, "mlp": 256}
SIZES = (100, 10_000, 1_000_000)


class Timed(NamedTuple):
    """One contestant of an interleaved timing: ``setup`` (untimed), then ``run`` (timed)."""

    run: Callable[[], Any]
    setup: Callable[[], None] = lambda: None


class Row(NamedTuple):
    """One line of the results table: values in ``unit`` ("s" or "count"), the ratio
    FUSE / torch and its target (``None``: context only)."""

    model: str
    metric: str
    unit: str
    fuse: float
    torch: float
    ratio: float | None
    target: float | None
    note: str = ""

    @property
    def verdict(self) -> str:
        """ "pass" or "MISS" against the target; empty without one."""
        if self.target is None or self.ratio is None:
            return ""
        return "pass" if self.ratio <= self.target else "MISS"


# --------------------------------------------------------------- models and data
def make_model(name: str, device: torch.device) -> nn.Module:
    """The benchmark model ``name`` (see the module docstring) on ``device``, initialised
    from a fixed seed without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if name == "cnn":
            model = nn.Sequential(
                nn.Conv2d(1, 16, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(32 * 7 * 7, 10),
            )
        else:
            model = nn.Sequential(
                nn.Flatten(),
                nn.Linear(784, 1024),
                nn.ReLU(),
                nn.Linear(1024, 256),
                nn.ReLU(),
                nn.Linear(256, 10),
            )
    return model.to(device)


def make_batch(name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """A fixed mini-batch of 28x28x1 random inputs and random labels for model ``name``."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH_SIZE[name], 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (BATCH_SIZE[name],), generator=gen)
    return x.to(device), y.to(device)


class Separable(nn.Module):
    r"""A cheap smooth objective over ``n`` parameters in four tensors (as a small
    network's layers): :math:`f(x) = \sum_i \tfrac12 a_i x_i^2 + \tfrac14 x_i^4` with
    curvatures :math:`a_i \in [1, 100)` and a random start, fixed seeds. Its evaluation
    costs a few element-wise passes, so an L-BFGS iteration's time is mostly the
    optimizer's own: the objective of the overhead rows."""

    def __init__(self, n: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        sizes = [n // 4] * 3 + [n - 3 * (n // 4)]
        self.xs = nn.ParameterList(nn.Parameter(torch.randn(k, generator=gen)) for k in sizes)
        for i, k in enumerate(sizes):
            self.register_buffer(f"a{i}", 1.0 + 99.0 * torch.rand(k, generator=gen))

    def forward(self, _: None = None) -> Tensor:
        return sum((0.5 * a * x * x + 0.25 * x**4).sum() for x, a in zip(self.xs, self.buffers()))


class CountingClosure:
    """Closure over one fixed mini-batch: zero_grad, forward, loss, backward; counts calls.
    A batch ``(None, None)`` means the model's output is the loss itself (:class:`Separable`).
    The forward and backward run inside the profiler range ``"closure"``."""

    def __init__(self, model: nn.Module, batch: tuple[Tensor | None, Tensor | None]) -> None:
        self.model, self.batch, self.calls = model, batch, 0

    def __call__(self) -> Tensor:
        self.calls += 1
        with torch.profiler.record_function("closure"):
            self.model.zero_grad()
            x, y = self.batch
            loss = self.model(x) if y is None else nn.functional.cross_entropy(self.model(x), y)
            loss.backward()
        return loss


# ---------------------------------------------------------------------- timing
def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall time of one call of ``fn`` in seconds, device work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved_medians(
    cases: dict[str, Timed], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median time of each case over ``repeats`` rounds; every round runs each case once,
    in an order rotated by one per round (AB, BA, ... for two cases) to cancel drift."""
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            cases[name].setup()
            samples[name].append(time_once(cases[name].run, device))
    return {name: statistics.median(times) for name, times in samples.items()}


# ------------------------------------------------------------------- Adam phase
def fixed_gradients(model: nn.Module, batch: tuple[Tensor, Tensor]) -> list[Tensor]:
    """Gradients of the loss on ``batch`` at the model's initial parameters."""
    CountingClosure(model, batch)()
    return [p.grad.detach().clone() for p in model.parameters()]


def adam_case(
    make_optimizer: Callable[[Iterable[Tensor]], torch.optim.Optimizer],
    template: nn.Module,
    grads: list[Tensor],
) -> Timed:
    """A warmed-up optimizer on its own copy of ``template`` whose gradients are ``grads``."""
    model = copy.deepcopy(template)
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    optimizer = make_optimizer(model.parameters())
    loss = torch.zeros((), device=grads[0].device)

    def step() -> None:
        optimizer.step(lambda: loss)

    for _ in range(ADAM_WARMUP_STEPS):
        step()
    return Timed(run=step)


def bench_adam(name: str, foreach: bool | None, repeats: int, device: torch.device) -> Row:
    """Adam-phase ``step()`` of FUSE versus ``torch.optim.Adam`` (same ``foreach``)."""
    template = make_model(name, device)
    grads = fixed_gradients(copy.deepcopy(template), make_batch(name, device))
    cases = {
        "fuse": adam_case(
            lambda ps: FUSE(ps, foreach=foreach, switch="epoch", switch_epoch=10**9),
            template,
            grads,
        ),
        "torch": adam_case(lambda ps: torch.optim.Adam(ps, foreach=foreach), template, grads),
    }
    med = interleaved_medians(cases, repeats, device)
    return Row(
        name,
        f"Adam step, foreach={foreach}",
        "s",
        med["fuse"],
        med["torch"],
        med["fuse"] / med["torch"],
        ADAM_TARGET if foreach else None,
    )


# ----------------------------------------------------------------- L-BFGS phase
def history_length(optimizer: torch.optim.Optimizer) -> int:
    """Curvature pairs held by FUSE or ``torch.optim.LBFGS``."""
    state = optimizer.state_dict()
    if isinstance(optimizer, FUSE):
        return state["fuse"]["history_len"]
    return len(state["state"].get(0, {}).get("old_dirs", []))


def warm_up_lbfgs(optimizer: torch.optim.Optimizer, closure: CountingClosure) -> None:
    """Iterate until the history is full (at most ``10 * HISTORY_SIZE`` iterations)."""
    for _ in range(10 * HISTORY_SIZE):
        if history_length(optimizer) == HISTORY_SIZE:
            return
        optimizer.step(closure)
    raise RuntimeError(
        f"{type(optimizer).__name__}: history not full after warm-up "
        f"({history_length(optimizer)} of {HISTORY_SIZE} pairs)"
    )


class LbfgsCase(NamedTuple):
    """A warmed-up L-BFGS optimizer: its timed ``step``, its counting ``closure``,
    ``closure_alone`` (the closure timed by itself at the same starting point) and the
    ``optimizer``."""

    step: Timed
    closure: CountingClosure
    closure_alone: Timed
    optimizer: torch.optim.Optimizer


def lbfgs_case(
    make_optimizer: Callable[[Iterable[Tensor]], torch.optim.Optimizer],
    template: nn.Module,
    batch: tuple[Tensor, Tensor],
) -> LbfgsCase:
    """Warm up an optimizer on a copy of ``template``; its state is saved and restored
    before each timed step. The closure alone runs on a copy of the warmed-up model (the
    closure's cost may depend a little on the parameters)."""
    model = copy.deepcopy(template)
    closure = CountingClosure(model, batch)
    optimizer = make_optimizer(model.parameters())
    warm_up_lbfgs(optimizer, closure)
    saved_params = [p.detach().clone() for p in model.parameters()]
    saved_state = copy.deepcopy(optimizer.state_dict())

    def restore() -> None:
        with torch.no_grad():
            for p, saved in zip(model.parameters(), saved_params):
                p.copy_(saved)
        optimizer.load_state_dict(copy.deepcopy(saved_state))

    return LbfgsCase(
        step=Timed(run=lambda: optimizer.step(closure), setup=restore),
        closure=closure,
        closure_alone=Timed(run=CountingClosure(copy.deepcopy(model), batch)),
        optimizer=optimizer,
    )


def lbfgs_optimizers() -> dict[str, Callable[[Iterable[Tensor]], torch.optim.Optimizer]]:
    """FUSE's L-BFGS phase and ``torch.optim.LBFGS`` with the same settings (docstring)."""
    return {
        "fuse": lambda ps: FUSE(
            ps,
            theta=0.0,
            history_size=HISTORY_SIZE,
            line_search="strong_wolfe",
            max_iter=1,
            max_ls=MAX_LS,
        ),
        "torch": lambda ps: torch.optim.LBFGS(
            ps,
            history_size=HISTORY_SIZE,
            line_search_fn="strong_wolfe",
            max_iter=1,
            max_eval=1 + MAX_LS,
        ),
    }


class LbfgsTiming(NamedTuple):
    """Per optimizer: median time per iteration, closure evaluations per iteration, and
    the optimizer's own time per iteration (iteration - evaluations x closure alone)."""

    iteration: dict[str, float]
    evals: dict[str, float]
    closure: dict[str, float]
    overhead: dict[str, float]


def time_lbfgs(cases: dict[str, LbfgsCase], repeats: int, device: torch.device) -> LbfgsTiming:
    """Interleaved timing of each case's iteration and of its closure alone."""
    calls_before = {k: case.closure.calls for k, case in cases.items()}
    timed = {k: case.step for k, case in cases.items()}
    timed.update({f"{k} closure": case.closure_alone for k, case in cases.items()})
    med = interleaved_medians(timed, repeats, device)
    evals = {k: (case.closure.calls - calls_before[k]) / repeats for k, case in cases.items()}
    closure = {k: med[f"{k} closure"] for k in cases}
    overhead = {k: med[k] - evals[k] * closure[k] for k in cases}
    return LbfgsTiming({k: med[k] for k in cases}, evals, closure, overhead)


def bench_lbfgs(name: str, repeats: int, device: torch.device) -> list[Row]:
    """One L-BFGS iteration of FUSE versus ``torch.optim.LBFGS`` (see module docstring)."""
    template, batch = make_model(name, device), make_batch(name, device)
    cases = {k: lbfgs_case(make, template, batch) for k, make in lbfgs_optimizers().items()}
    timing = time_lbfgs(cases, repeats, device)
    med, evals, overhead = timing.iteration, timing.evals, timing.overhead
    per_eval = {k: med[k] / evals[k] for k in cases}
    equal = evals["fuse"] == evals["torch"]
    return [
        Row(
            name,
            "L-BFGS closure evals / iteration",
            "count",
            evals["fuse"],
            evals["torch"],
            evals["fuse"] / evals["torch"],
            None,
        ),
        Row(
            name,
            "L-BFGS time / iteration",
            "s",
            med["fuse"],
            med["torch"],
            med["fuse"] / med["torch"],
            LBFGS_TARGET,
            "equal evals" if equal else "evals differ: see time / eval",
        ),
        Row(
            name,
            "L-BFGS time / closure eval",
            "s",
            per_eval["fuse"],
            per_eval["torch"],
            per_eval["fuse"] / per_eval["torch"],
            LBFGS_TARGET,
        ),
        Row(
            name,
            "L-BFGS overhead / iteration",
            "s",
            overhead["fuse"],
            overhead["torch"],
            ratio(overhead["fuse"], overhead["torch"]),
            None,
            closure_note(timing),
        ),
    ]


def closure_note(timing: LbfgsTiming) -> str:
    """How the overhead was derived, with the closure times it subtracts."""
    fuse, torch_ = (format_value(timing.closure[k], "s") for k in ("fuse", "torch"))
    return f"iteration - evals x closure alone ({fuse}, {torch_})"


def bench_overhead(n: int, repeats: int, device: torch.device) -> list[Row]:
    """The optimizer's own cost of one L-BFGS iteration on :class:`Separable` (``n``
    parameters), FUSE against ``torch.optim.LBFGS``, and its kernel counts."""
    template = Separable(n).to(device)
    batch = (None, None)
    cases = {k: lbfgs_case(make, template, batch) for k, make in lbfgs_optimizers().items()}
    timing = time_lbfgs(cases, repeats, device)
    kernels = {k: count_kernels(case) for k, case in cases.items()}
    fuse_direction = count_direction_kernels(cases["fuse"])
    floor = history_passes(cases["fuse"], repeats, device)
    name = f"n={n:,}"
    return [
        Row(
            name,
            "L-BFGS closure evals / iteration",
            "count",
            timing.evals["fuse"],
            timing.evals["torch"],
            timing.evals["fuse"] / timing.evals["torch"],
            None,
        ),
        Row(
            name,
            "L-BFGS overhead / iteration",
            "s",
            timing.overhead["fuse"],
            timing.overhead["torch"],
            ratio(timing.overhead["fuse"], timing.overhead["torch"]),
            OVERHEAD_TARGET,
            closure_note(timing),
        ),
        Row(
            name,
            "two passes over the history",
            "s",
            floor,
            timing.overhead["torch"],
            ratio(floor, timing.overhead["torch"]),
            None,
            "FUSE: 2 x torch.mv over its 2m x n history, the memory traffic any exact "
            "direction needs; torch: its whole overhead",
        ),
        Row(
            name,
            "L-BFGS kernels / iteration",
            "count",
            kernels["fuse"],
            kernels["torch"],
            kernels["fuse"] / kernels["torch"],
            None,
            f"top-level aten ops outside the closure; FUSE's direction alone: {fuse_direction}",
        ),
    ]


def top_level_ops(prof: torch.profiler.profile, outside: str | None = None) -> int:
    """Operators called from Python (an ``aten::`` event without an ``aten::`` parent),
    not counting those inside the profiler range ``outside``."""
    count = 0
    for event in prof.events():
        if not event.name.startswith("aten::"):
            continue
        parent, top, inside = event.cpu_parent, True, False
        while parent is not None:
            top = top and not parent.name.startswith("aten::")
            inside = inside or parent.name == outside
            parent = parent.cpu_parent
        count += top and not inside
    return count


def count_kernels(case: LbfgsCase) -> int:
    """Top-level operators of one iteration (from the saved state) outside the closure."""
    case.step.setup()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        case.step.run()
    return top_level_ops(prof, outside="closure")


def count_direction_kernels(case: LbfgsCase) -> int:
    """Top-level operators of FUSE's direction computation alone, from the saved state
    (the newest pair's products pending, as after any iteration)."""
    case.step.setup()
    case.closure()
    params = [p for group in case.optimizer.param_groups for p in group["params"]]
    g = torch.cat([p.grad.reshape(-1) for p in params])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        case.optimizer._direction(g)
    return top_level_ops(prof)


def history_passes(case: LbfgsCase, repeats: int, device: torch.device) -> float:
    """Median time of two matrix-vector products over FUSE's full history ``W``
    (2m x n): the memory traffic of any exact direction from the compact representation
    (one pass for :math:`[S\\ Y]^\\top g`, one to combine the columns), without the
    rest of the iteration. A lower bound of FUSE's overhead per iteration."""
    case.step.setup()
    W = case.optimizer.state_dict()["fuse"]["W"]
    g = torch.ones(W.shape[1], dtype=W.dtype, device=W.device)
    c = torch.ones(W.shape[0], dtype=W.dtype, device=W.device)
    passes = Timed(run=lambda: torch.mv(W.T, torch.mv(W, g) * c))
    return interleaved_medians({"passes": passes}, repeats, device)["passes"]


# -------------------------------------------------------------------- reporting
def ratio(fuse: float, reference: float) -> float | None:
    """FUSE / torch, or ``None`` when the torch value is not positive (an overhead
    estimate can be, by noise)."""
    return fuse / reference if reference > 0 else None


def format_value(value: float, unit: str) -> str:
    """Seconds as µs or ms; counts with two decimals."""
    if unit == "count":
        return f"{value:.2f}"
    return f"{value * 1e6:.1f} µs" if abs(value) < 1e-3 else f"{value * 1e3:.3f} ms"


def markdown_table(rows: Sequence[Row]) -> str:
    """The results as a markdown table."""
    lines = [
        "| model | metric | FUSE | torch | FUSE / torch | target | verdict | note |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        target = f"<= {row.target}" if row.target is not None else ""
        shown_ratio = f"{row.ratio:.3f}" if row.ratio is not None else "n/a"
        lines.append(
            f"| {row.model} | {row.metric} | {format_value(row.fuse, row.unit)} | "
            f"{format_value(row.torch, row.unit)} | {shown_ratio} | {target} | "
            f"{row.verdict} | {row.note} |"
        )
    return "\n".join(lines)


def environment(
    argv: Sequence[str], args: argparse.Namespace, device: torch.device
) -> dict[str, Any]:
    """What the numbers were measured on and with."""
    env = {
        "command": " ".join(["python", "benchmarks/bench_fuse.py", *argv]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "lbfgs_repeats": args.lbfgs_repeats,
        "models": args.models,
        "sizes": args.sizes,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


# ------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1000,
        help="timed Adam steps per optimizer and setting (default 1000)",
    )
    parser.add_argument(
        "--lbfgs-repeats",
        type=int,
        default=60,
        help="timed L-BFGS iterations per optimizer (default 60)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--sizes",
        nargs="*",
        type=int,
        default=list(SIZES),
        help="parameter counts of the overhead rows (default: 1e2 1e4 1e6)",
    )
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.lbfgs_repeats < 1:
        parser.error("--repeats and --lbfgs-repeats must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write JSON when asked; return the results."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows: list[Row] = []
    for name in args.models:
        for foreach in (True, None):
            rows.append(bench_adam(name, foreach, args.repeats, device))
        rows.extend(bench_lbfgs(name, args.lbfgs_repeats, device))
    for n in args.sizes:
        rows.extend(bench_overhead(n, args.lbfgs_repeats, device))
    results = {
        "environment": environment(argv, args, device),
        "rows": [dict(row._asdict(), verdict=row.verdict) for row in rows],
    }
    print(markdown_table(rows))
    if args.out is not None:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
