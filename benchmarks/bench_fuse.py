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
   ``optimizer.step()`` is timed, without forward/backward noise. Both run with
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
MODELS = ("cnn", "mlp")
BATCH_SIZE = {"cnn": 64, "mlp": 256}


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
        """"pass" or "MISS" against the target; empty without one."""
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
                nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        else:
            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(),
                                  nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 10))
    return model.to(device)


def make_batch(name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """A fixed mini-batch of 28x28x1 random inputs and random labels for model ``name``."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH_SIZE[name], 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (BATCH_SIZE[name],), generator=gen)
    return x.to(device), y.to(device)


class CountingClosure:
    """Closure over one fixed mini-batch: zero_grad, forward, loss, backward; counts calls."""

    def __init__(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
        self.model, self.batch, self.calls = model, batch, 0

    def __call__(self) -> Tensor:
        self.calls += 1
        self.model.zero_grad()
        x, y = self.batch
        loss = nn.functional.cross_entropy(self.model(x), y)
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


def interleaved_medians(cases: dict[str, Timed], repeats: int,
                        device: torch.device) -> dict[str, float]:
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


def adam_case(make_optimizer: Callable[[Iterable[Tensor]], torch.optim.Optimizer],
              template: nn.Module, grads: list[Tensor]) -> Timed:
    """A warmed-up optimizer on its own copy of ``template`` whose gradients are ``grads``."""
    model = copy.deepcopy(template)
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    optimizer = make_optimizer(model.parameters())
    for _ in range(ADAM_WARMUP_STEPS):
        optimizer.step()
    return Timed(run=optimizer.step)


def bench_adam(name: str, foreach: bool | None, repeats: int,
               device: torch.device) -> Row:
    """Adam-phase ``step()`` of FUSE versus ``torch.optim.Adam`` (same ``foreach``)."""
    template = make_model(name, device)
    grads = fixed_gradients(copy.deepcopy(template), make_batch(name, device))
    cases = {
        "fuse": adam_case(lambda ps: FUSE(ps, foreach=foreach, switch="epoch",
                                          switch_epoch=10**9), template, grads),
        "torch": adam_case(lambda ps: torch.optim.Adam(ps, foreach=foreach), template, grads),
    }
    med = interleaved_medians(cases, repeats, device)
    return Row(name, f"Adam step, foreach={foreach}", "s", med["fuse"], med["torch"],
               med["fuse"] / med["torch"], ADAM_TARGET if foreach else None)


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
    raise RuntimeError(f"{type(optimizer).__name__}: history not full after warm-up "
                       f"({history_length(optimizer)} of {HISTORY_SIZE} pairs)")


class LbfgsCase(NamedTuple):
    """A warmed-up L-BFGS optimizer: its timed ``step``, its counting ``closure``, and
    ``closure_alone``, the closure timed by itself at the same starting point."""

    step: Timed
    closure: CountingClosure
    closure_alone: Timed


def lbfgs_case(make_optimizer: Callable[[Iterable[Tensor]], torch.optim.Optimizer],
               template: nn.Module, batch: tuple[Tensor, Tensor]) -> LbfgsCase:
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

    return LbfgsCase(step=Timed(run=lambda: optimizer.step(closure), setup=restore),
                     closure=closure,
                     closure_alone=Timed(run=CountingClosure(copy.deepcopy(model), batch)))


def bench_lbfgs(name: str, repeats: int, device: torch.device) -> list[Row]:
    """One L-BFGS iteration of FUSE versus ``torch.optim.LBFGS`` (see module docstring)."""
    template, batch = make_model(name, device), make_batch(name, device)
    cases = {
        "fuse": lbfgs_case(
            lambda ps: FUSE(ps, theta=0.0, history_size=HISTORY_SIZE,
                            line_search="strong_wolfe", max_iter=1, max_ls=MAX_LS),
            template, batch),
        "torch": lbfgs_case(
            lambda ps: torch.optim.LBFGS(ps, history_size=HISTORY_SIZE,
                                         line_search_fn="strong_wolfe", max_iter=1,
                                         max_eval=1 + MAX_LS),
            template, batch),
    }
    calls_before = {k: case.closure.calls for k, case in cases.items()}
    timed = {k: case.step for k, case in cases.items()}
    timed.update({f"{k} closure": case.closure_alone for k, case in cases.items()})
    med = interleaved_medians(timed, repeats, device)
    evals = {k: (case.closure.calls - calls_before[k]) / repeats for k, case in cases.items()}
    per_eval = {k: med[k] / evals[k] for k in cases}
    overhead = {k: med[k] - evals[k] * med[f"{k} closure"] for k in cases}
    equal = evals["fuse"] == evals["torch"]
    return [
        Row(name, "L-BFGS closure evals / iteration", "count", evals["fuse"],
            evals["torch"], evals["fuse"] / evals["torch"], None),
        Row(name, "L-BFGS time / iteration", "s", med["fuse"], med["torch"],
            med["fuse"] / med["torch"], LBFGS_TARGET,
            "equal evals" if equal else "evals differ: see time / eval"),
        Row(name, "L-BFGS time / closure eval", "s", per_eval["fuse"], per_eval["torch"],
            per_eval["fuse"] / per_eval["torch"], LBFGS_TARGET),
        Row(name, "L-BFGS overhead / iteration", "s", overhead["fuse"], overhead["torch"],
            ratio(overhead["fuse"], overhead["torch"]), None,
            f"iteration - evals x closure alone ({format_value(med['fuse closure'], 's')}, "
            f"{format_value(med['torch closure'], 's')}); noisy when the closure dominates"),
    ]


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
    lines = ["| model | metric | FUSE | torch | FUSE / torch | target | verdict | note |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for row in rows:
        target = f"<= {row.target}" if row.target is not None else ""
        shown_ratio = f"{row.ratio:.3f}" if row.ratio is not None else "n/a"
        lines.append(f"| {row.model} | {row.metric} | {format_value(row.fuse, row.unit)} | "
                     f"{format_value(row.torch, row.unit)} | {shown_ratio} | {target} | "
                     f"{row.verdict} | {row.note} |")
    return "\n".join(lines)


def environment(argv: Sequence[str], args: argparse.Namespace,
                device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on and with."""
    env = {"command": " ".join(["python", "benchmarks/bench_fuse.py", *argv]),
           "python": platform.python_version(),
           "torch": torch.__version__, "platform": platform.platform(),
           "processor": platform.processor(), "device": str(device),
           "threads": torch.get_num_threads(), "repeats": args.repeats,
           "lbfgs_repeats": args.lbfgs_repeats, "models": args.models}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


# ------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=1000,
                        help="timed Adam steps per optimizer and setting (default 1000)")
    parser.add_argument("--lbfgs-repeats", type=int, default=60,
                        help="timed L-BFGS iterations per optimizer (default 60)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
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
    results = {"environment": environment(argv, args, device),
               "rows": [dict(row._asdict(), verdict=row.verdict) for row in rows]}
    print(markdown_table(rows))
    if args.out is not None:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
