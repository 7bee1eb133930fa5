"""The physics-informed study's runs: one tanh network trained on one problem's
physics-informed loss (:mod:`fuse_repro.pinn.problems`) by one optimizer variant from one
seed, full batch.

The seed fixes the network's initial weights and the collocation and condition points,
so every variant of a seed starts from the same network on the same points. Each step
calls ``optimizer.step(closure)`` once, the closure evaluating the loss and its gradient on
all the points (one *closure evaluation*: the unit of every budget here); every
``steps_per_epoch`` steps is an epoch, at whose end the switch rules see the loss the last
step started from (already computed: nothing is charged for it). A run stops when it has
used ``budget`` closure evaluations, when a step uses none (the optimizer has converged:
its tolerances stop it) or when the parameters stop being finite (diverged).

A row is logged at the start and then after the first step at or past every multiple of
``log_every`` closure evaluations (a fixed cadence in evaluations, whatever an optimizer's
evaluations per step), and after the last step: the step, the evaluations and the wall
time so far (time inside ``step`` only), the loss and the relative L2 error at the
parameters then (computed outside the timed steps and not counted), the phase and FUSE's
switch step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from fuse_repro.core.optimizers import REGISTRY, build_optimizer
from fuse_repro.core.runstore import collect_runs, digest
from fuse_repro.core.variants import Variant
from fuse_repro.pinn.problems import DTYPE, PROBLEMS, Problem

LOG_COLUMNS = [
    "problem",
    "variant",
    "seed",
    "step",
    "evals",
    "wall_time",
    "loss",
    "error",
    "phase",
    "switch_step",
]


class TanhNetwork(nn.Module):
    """:math:`u_\\phi(z) = W_L \\tanh(\\cdots \\tanh(W_1 \\hat z + b_1) \\cdots) + b_L`:
    ``depth`` hidden layers of ``width`` units, the inputs scaled to :math:`\\hat z \\in
    [-1, 1]^2` by the problem's box; Glorot-normal weights and zero biases (as Raissi et
    al. 2019), drawn from ``seed``."""

    def __init__(self, problem: Problem, width: int, depth: int, seed: int) -> None:
        super().__init__()
        sizes = [2, *[width] * depth, 1]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=DTYPE) for a, b in zip(sizes, sizes[1:]))
        generator = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            nn.init.xavier_normal_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)
        lower, upper = torch.tensor(problem.lower), torch.tensor(problem.upper)
        self.register_buffer("center", ((upper + lower) / 2).to(DTYPE))
        self.register_buffer("half_width", ((upper - lower) / 2).to(DTYPE))

    def forward(self, z: Tensor) -> Tensor:
        h = (z - self.center) / self.half_width
        for layer in self.layers[:-1]:
            h = torch.tanh(layer(h))
        return self.layers[-1](h).squeeze(-1)


def training_points(problem: Problem, settings: dict[str, Any], seed: int) -> dict[str, Tensor]:
    """The run's fixed points, drawn from ``seed``: ``collocation`` interior points and
    ``condition_points`` for each condition."""
    generator = torch.Generator().manual_seed(seed)
    points = {"residual": problem.interior(settings["collocation"], generator)}
    for name, (sample, _) in problem.conditions.items():
        points[name] = sample(settings["condition_points"], generator)
    return points


def physics_loss(network: nn.Module, problem: Problem, points: dict[str, Tensor]) -> Tensor:
    """The loss of :mod:`fuse_repro.pinn.problems` (module docstring): mean squared PDE
    residual plus each condition's mean squared residual."""
    z = points["residual"].detach().requires_grad_(True)
    loss = problem.residual(network, z).square().mean()
    for name, (_, residual) in problem.conditions.items():
        loss = loss + residual(network, points[name]).square().mean()
    return loss


@cache
def evaluation_data(problem_name: str) -> tuple[Tensor, Tensor]:
    """A problem's evaluation grid (network inputs) and its reference solution there
    (float64), computed once per process."""
    problem = PROBLEMS[problem_name]
    grid = problem.evaluation_grid()
    return torch.from_numpy(grid).to(DTYPE), torch.from_numpy(problem.solution(grid))


class Scorer:
    """The loss on the run's points and the relative L2 error
    :math:`\\lVert u_\\phi - u\\rVert_2 / \\lVert u\\rVert_2` on the problem's evaluation grid."""

    def __init__(self, problem: Problem, points: dict[str, Tensor]) -> None:
        self.problem, self.points = problem, points
        self.grid, self.reference = evaluation_data(problem.name)

    def __call__(self, network: nn.Module) -> tuple[float, float]:
        loss = physics_loss(network, self.problem, self.points)
        with torch.no_grad():
            u = network(self.grid).to(torch.float64)
        error = torch.linalg.vector_norm(u - self.reference) / torch.linalg.vector_norm(
            self.reference
        )
        return float(loss.detach()), float(error)


def train_run(
    problem_name: str, variant: Variant, seed: int, settings: dict[str, Any]
) -> pd.DataFrame:
    """Train one run (module docstring); returns its log (:data:`LOG_COLUMNS`)."""
    problem = PROBLEMS[problem_name]
    network = TanhNetwork(problem, settings["width"], settings["depth"], seed)
    points = training_points(problem, settings, seed)
    score = Scorer(problem, points)
    optimizer = build_optimizer(
        variant.optimizer, network.parameters(), variant.applied_to(settings), **variant.arguments
    )
    evals, wall, step = 0, 0.0, 0
    rows = []

    def closure() -> Tensor:
        nonlocal evals
        evals += 1
        optimizer.zero_grad()
        loss = physics_loss(network, problem, points)
        loss.backward()
        return loss

    def log(phase: str) -> None:
        loss, error = score(network)
        switch = optimizer.counters.get("switch_step")
        rows.append(
            dict(
                problem=problem_name,
                variant=variant.key,
                seed=seed,
                step=step,
                evals=evals,
                wall_time=wall,
                loss=loss,
                error=error,
                phase=phase,
                switch_step=math.nan if switch is None else switch,
            )
        )

    log(optimizer.phase)
    next_log = settings["log_every"]
    while evals < settings["budget"]:
        phase, before = optimizer.phase, evals
        started = time.perf_counter()
        loss = optimizer.step(closure)
        wall += time.perf_counter() - started
        step += 1
        if evals == before or not all(torch.isfinite(p).all() for p in network.parameters()):
            log(phase)  # converged (a step without evaluations) or diverged: the run ends
            break
        if evals >= next_log or evals >= settings["budget"]:
            log(phase)
            next_log = (evals // settings["log_every"] + 1) * settings["log_every"]
        if step % settings["steps_per_epoch"] == 0:
            optimizer.end_epoch(float(loss.detach()))
    return pd.DataFrame(rows, columns=LOG_COLUMNS)


# ---------------------------------------------------------------------- the grid
RUN_SETTINGS = (
    "width",
    "depth",
    "collocation",
    "condition_points",
    "budget",
    "log_every",
    "steps_per_epoch",
)
"""The settings every run depends on; each run adds its own optimizer's blocks."""


def variants(settings: dict[str, Any]) -> list[Variant]:
    """Every optimizer of ``settings["optimizers"]`` as configured, Adam→L-BFGS switched
    by hand after each epoch count of ``switch_epochs`` (FUSE-PV's epoch rule at that
    value), and plain FUSE blending with each ``theta`` of ``thetas``."""
    return (
        [Variant(name) for name in settings["optimizers"]]
        + [Variant("fuse_pv_epoch", {"switch_epoch": k}) for k in settings["switch_epochs"]]
        + [Variant("fuse", {"theta": theta}) for theta in settings["thetas"]]
    )


def grid(settings: dict[str, Any]) -> list[tuple[str, Variant, int]]:
    """Every run: (problem, variant, seed)."""
    return [
        (problem, variant, seed)
        for problem in settings["problems"]
        for variant in variants(settings)
        for seed in settings["seeds"]
    ]


def file_name(run: tuple[str, Variant, int], settings: dict[str, Any]) -> str:
    """``<problem>__<variant>__seed<s>__<key>.csv.gz``; ``key`` digests the run settings,
    its optimizer's settings (with the variant's), the run and the log's columns."""
    problem, variant, seed = run
    optimizer = REGISTRY[variant.optimizer].identity(variant.applied_to(settings))
    key = digest(
        {k: settings[k] for k in RUN_SETTINGS}, optimizer, problem, variant.key, seed, LOG_COLUMNS
    )
    return f"{problem}__{variant.key}__seed{seed}__{key}.csv.gz"


def check_run(run: tuple[str, Variant, int], table: pd.DataFrame) -> str | None:
    """What is wrong with ``table`` read back as ``run``'s log: its columns, the run it
    names, a start row; None when complete."""
    if list(table.columns) != LOG_COLUMNS:
        return f"columns {list(table.columns)}, expected {LOG_COLUMNS}"
    named = (run[0], run[1].key, run[2])
    held = set(table[["problem", "variant", "seed"]].itertuples(index=False, name=None))
    if held != {named}:
        return f"holds the runs {sorted(held)}, not {named}"
    if table["evals"].iloc[0] != 0 or not table["evals"].is_monotonic_increasing:
        return "its evaluations do not start at 0 and grow"
    return None


def run_grid(settings: dict[str, Any], runs_dir: Path) -> pd.DataFrame:
    """The logs of every run of :func:`grid`, each saved as soon as it is done as
    ``runs_dir/<run>.csv.gz`` and read back on a rerun with the same settings and numerics
    (:func:`~fuse_repro.core.runstore.collect_runs`: workers, runs not stored with
    ``missing_runs: report``)."""
    torch.set_num_threads(1)  # small networks: one thread per run, runs side by side
    runs = {file_name(run, settings): run for run in grid(settings)}
    jobs: dict[str, Callable[[], pd.DataFrame]] = {
        name: partial(train_run, *run, settings) for name, run in runs.items()
    }

    def check(name: str, table: pd.DataFrame) -> str | None:
        return check_run(runs[name], table)

    stored = collect_runs(runs_dir, jobs, settings, check)
    return pd.concat(stored, ignore_index=True) if stored else pd.DataFrame(columns=LOG_COLUMNS)
