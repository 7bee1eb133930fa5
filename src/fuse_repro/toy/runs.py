"""The toy ablation: every optimizer on test functions with known minima, from seeded
random starts, with and without gradient noise.

A *run* minimises one :class:`~fuse_repro.toy.functions.TestFunction` from one start with one
optimizer *variant* (an optimizer name of :func:`fuse_repro.core.optimizers.build_optimizer`,
or ``scipy``, plus settings that override the experiment's) at one noise scale. Each step
draws a fresh "batch" of the study's stochastic objective (:func:`noisy_objective`) and calls
``optimizer.step(closure)`` once; every ``steps_per_epoch`` steps is an epoch, at whose end
the switch rules see the noise-free value f(x) (the analogue of the full-training-set
loss). A run stops when it has used ``budget`` closure evaluations, when the gap
f(x) − f* falls to ``target_gap`` or when x stops being finite.

``scipy`` is ``scipy.optimize.minimize(method="L-BFGS-B")`` on the noise-free function
(same ``history_size``), the deterministic reference; it runs only at noise 0.

One row is logged per step (and one for the start): the evaluations and wall time so far
(time inside ``step`` only), f, the gap, ‖∇f‖ and the distance to the nearest global
minimiser, all noise-free, the phase, and the first two coordinates of x for 2-D paths.
A cell (all starts of one function, variant and noise scale) stores only its record
(:func:`fuse_repro.toy.summary.cell_record`: per-run summaries, gap quantiles, one path),
which every table and figure reads; :func:`cell_runs` rebuilds its per-step log on demand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
import torch

from fuse_repro.core.optimizers import REGISTRY, build_optimizer
from fuse_repro.core.runstore import collect_runs, digest, later_settings
from fuse_repro.core.variants import Variant
from fuse_repro.toy.functions import (
    FiniteSumObjective,
    NoisyObjective,
    TestFunction,
    get,
    random_starts,
)
from fuse_repro.toy.grid import ablation_variants, function_key, main_variants
from fuse_repro.toy.summary import RECORD_COLUMNS, cell_record

LOG_COLUMNS = [
    "function",
    "variant",
    "noise",
    "start",
    "step",
    "evals",
    "wall_time",
    "f",
    "gap",
    "grad_norm",
    "distance",
    "phase",
    "switch_step",
    "x0",
    "x1",
]


# ---------------------------------------------------------------------- one run
def trajectory_table(
    fn: TestFunction,
    xs: torch.Tensor,
    evals: list[int],
    walls: list[float],
    phases: list[str],
    switch_steps: list[float] | None = None,
) -> pd.DataFrame:
    """Noise-free f, gap, ‖∇f‖ and distance to the nearest minimiser along ``xs``
    (one row per point), evaluated in one batched autograd call; ``switch_steps``: FUSE-PV's
    ``switch_step`` counter at each point (None: an optimizer without a switch)."""
    points = xs.detach().clone().requires_grad_(True)
    values = fn.f(points)
    (grads,) = torch.autograd.grad(values.sum(), points)
    distances = (
        torch.linalg.vector_norm(points.detach().unsqueeze(-2) - fn.minimizers, dim=-1)
        .min(-1)
        .values
    )
    f = values.detach().numpy()
    nan = np.full(len(xs), np.nan)
    return pd.DataFrame(
        {
            "step": np.arange(len(xs)),
            "evals": evals,
            "wall_time": walls,
            "f": f,
            "gap": f - fn.minimum_value,
            "grad_norm": torch.linalg.vector_norm(grads, dim=-1).numpy(),
            "distance": distances.numpy(),
            "phase": phases,
            "switch_step": nan if switch_steps is None else switch_steps,
            "x0": xs[:, 0].numpy() if fn.dim == 2 else nan,
            "x1": xs[:, 1].numpy() if fn.dim == 2 else nan,
        }
    )


def noisy_objective(
    fn: TestFunction, noise: float, seed: int, start: torch.Tensor, settings: dict[str, Any]
) -> NoisyObjective | FiniteSumObjective:
    """The stochastic objective of ``settings["noise_model"]``: ``tilt`` (gradient noise of
    std ``noise`` per coordinate, :class:`~fuse_repro.toy.functions.NoisyObjective`) or a
    finite sum (its ``terms``, ``batch`` and ``cycles``; batch gradient error of RMS
    ``noise`` times ``|grad f(start)|``, :class:`~fuse_repro.toy.functions.FiniteSumObjective`)."""
    model = settings.get("noise_model", LATER_SETTINGS["noise_model"])
    if model == "tilt":
        return NoisyObjective(fn, noise, seed)
    return FiniteSumObjective(fn, noise, seed, start, **model)


def torch_run(
    fn: TestFunction,
    variant: Variant,
    start: torch.Tensor,
    noise: float,
    noise_seed: int,
    settings: dict[str, Any],
) -> pd.DataFrame:
    """Minimise ``fn`` from ``start`` with a torch optimizer (see the module docstring)."""
    x = start.clone().requires_grad_(True)
    objective = noisy_objective(fn, noise, noise_seed, start, settings)
    optimizer = build_optimizer(
        variant.optimizer, [x], variant.applied_to(settings), **variant.arguments
    )
    evals, wall = 0, 0.0

    def closure() -> torch.Tensor:
        nonlocal evals
        evals += 1
        optimizer.zero_grad()
        loss = objective(x)
        loss.backward()
        return loss

    path, eval_counts, walls, phases = [x.detach().clone()], [0], [0.0], [optimizer.phase]
    switch_steps = [_switch_step(optimizer)]
    steps = 0
    while evals < settings["budget"]:
        phase = optimizer.phase
        started = time.perf_counter()
        optimizer.step(closure)
        wall += time.perf_counter() - started
        steps += 1
        objective.batch()
        point = x.detach().clone()
        path.append(point), eval_counts.append(evals), walls.append(wall), phases.append(phase)
        switch_steps.append(_switch_step(optimizer))
        if not bool(torch.isfinite(point).all()):
            break
        value = float(fn.f(point))
        if value - fn.minimum_value <= settings["target_gap"]:
            break
        if steps % settings["steps_per_epoch"] == 0:
            optimizer.end_epoch(value)
    return trajectory_table(fn, torch.stack(path), eval_counts, walls, phases, switch_steps)


def _switch_step(optimizer: Any) -> float:
    """FUSE-PV's ``switch_step`` counter (NaN before the switch and without one)."""
    step = optimizer.counters.get("switch_step")
    return np.nan if step is None else float(step)


def scipy_run(fn: TestFunction, start: torch.Tensor, settings: dict[str, Any]) -> pd.DataFrame:
    """L-BFGS-B on the noise-free ``fn``; one row per scipy iteration (its accepted
    points), with the evaluations and time used up to it."""
    evals, started = 0, time.perf_counter()

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evals
        evals += 1
        point = torch.from_numpy(x).requires_grad_(True)
        value = fn.f(point)
        value.backward()
        return float(value.detach()), point.grad.numpy()

    path, eval_counts, walls = [start.clone()], [0], [0.0]

    def record(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        walls.append(time.perf_counter() - started)
        path.append(torch.from_numpy(intermediate_result.x.copy()))
        eval_counts.append(evals)
        if intermediate_result.fun - fn.minimum_value <= settings["target_gap"]:
            raise StopIteration  # scipy >= 1.11 ends the run cleanly

    sp = settings["scipy"]
    scipy.optimize.minimize(
        value_and_grad,
        start.numpy().copy(),
        jac=True,
        method="L-BFGS-B",
        callback=record,
        options=dict(
            maxcor=settings["lbfgs"]["history_size"],
            maxfun=settings["budget"],
            maxiter=settings["budget"],
            ftol=sp["ftol"],
            gtol=sp["gtol"],
        ),
    )
    return trajectory_table(fn, torch.stack(path), eval_counts, walls, ["lbfgs"] * len(path))


def cell_runs(
    spec: dict[str, Any], variant: Variant, noise: float, settings: dict[str, Any]
) -> pd.DataFrame:
    """Every start of one function x variant x noise scale, as one table. Start ``i``'s
    noise is seeded with ``seed + i``: start 0's noise generator has the starts' own seed
    (a known dependence, stated in the report; changing it would invalidate every stored
    toy run)."""
    fn = get(spec["name"], spec["dim"])
    indices = start_indices(variant, settings)
    starts = random_starts(fn, indices.stop, settings["seed"])
    frames = []
    for index, start in zip(indices, starts[indices]):
        if variant.optimizer == "scipy":
            frame = scipy_run(fn, start, settings)
        else:
            frame = torch_run(fn, variant, start, noise, settings["seed"] + index, settings)
        frames.append(frame.assign(start=index))
    table = pd.concat(frames, ignore_index=True)
    table = table.assign(function=function_key(spec), variant=variant.key, noise=noise)
    return table[LOG_COLUMNS]


def start_indices(variant: Variant, settings: dict[str, Any]) -> range:
    """The starts a variant runs from, by their index in the study's seeded stream
    (:func:`~fuse_repro.toy.functions.random_starts`, whose first ``n`` points are the same
    for any longer stream): ``0 .. n - 1``, or on the selection starts ``n .. 2n - 1``."""
    n = settings["starts"]
    return range(n, 2 * n) if variant.selection else range(n)


def cell_result(
    spec: dict[str, Any], variant: Variant, noise: float, settings: dict[str, Any]
) -> pd.DataFrame:
    """What the study stores of a cell: the record (:func:`~fuse_repro.toy.summary.cell_record`)
    of its per-step log (:func:`cell_runs`)."""
    return cell_record(cell_runs(spec, variant, noise, settings), settings)


def check_cell(cell: Cell, table: pd.DataFrame, settings: dict[str, Any]) -> str | None:
    """What is wrong with ``table`` read back as ``cell``'s record: its columns, one run row
    per start, a curve, and a path of consecutive steps (2-D functions); None when it is
    complete."""
    if list(table.columns) != RECORD_COLUMNS:
        return f"columns {list(table.columns)}, expected {RECORD_COLUMNS}"
    starts = sorted(table.loc[table["part"] == "run", "start"])
    expected = start_indices(cell.variant, settings)
    if starts != list(expected):
        return f"run rows for starts {starts}, expected {expected.start}..{expected.stop - 1}"
    if not (table["part"] == "curve").any():
        return "no curve rows"
    steps = table.loc[table["part"] == "path", "step"].tolist()
    if cell.spec["dim"] == 2 and (not steps or steps != list(range(len(steps)))):
        return "the path's steps are not 0, 1, 2, ..."
    labels = {"function": function_key(cell.spec), "variant": cell.variant.key}
    for column, value in labels.items():
        if set(table[column]) != {value}:
            return f"{column} {sorted(set(table[column]))}, expected {value!r}"
    return None


# ---------------------------------------------------------------------- the grid
# Settings every run depends on (the lists that only choose which cells run are left out);
# each cell adds its own optimizer's blocks.
RUN_SETTINGS = ("starts", "seed", "budget", "target_gap", "steps_per_epoch")
LATER_SETTINGS = {"noise_model": "tilt"}
"""Run settings added after cells were stored (:func:`~fuse_repro.core.runstore.later_settings`)."""


@dataclass(frozen=True, eq=False)
class Cell:
    """All starts of one function (``spec``: name and dim), variant and noise scale."""

    spec: dict[str, Any]
    variant: Variant
    noise: float

    def file_name(self, settings: dict[str, Any]) -> str:
        """``<function>__<variant>__noise<s>__<key>.csv.gz``; ``key`` digests what the
        cell's numbers depend on: the run settings, its own optimizer's settings (with the
        variant's overrides), the function, variant, noise scale and the record's columns."""
        run_settings = {k: settings[k] for k in RUN_SETTINGS}
        run_settings |= later_settings(settings, LATER_SETTINGS)
        optimizer = REGISTRY[self.variant.optimizer].identity(self.variant.applied_to(settings))
        key = digest(
            run_settings, optimizer, self.spec, self.variant.key, self.noise, RECORD_COLUMNS
        )
        return f"{function_key(self.spec)}__{self.variant.key}__noise{self.noise:g}__{key}.csv.gz"


def grid(settings: dict[str, Any]) -> list[Cell]:
    """The comparison (every function x main variant x noise scale; scipy at noise 0
    only) and the ablation (every ablation function x swept value x ablation noise).
    A cell of both appears twice; :func:`run_cells` computes it once (same file name)."""
    cells = [
        Cell(spec, variant, noise)
        for spec in settings["functions"]
        for variant in main_variants(settings)
        for noise in settings["noise_scales"]
        if variant.optimizer != "scipy" or noise == 0.0
    ]
    cells += [
        Cell(spec, variant, noise)
        for spec in settings["ablation"]["functions"]
        for variants in ablation_variants(settings).values()
        for variant in variants
        for noise in settings["ablation"]["noise_scales"]
    ]
    return cells


def stored_cells(settings: dict[str, Any]) -> dict[str, Cell]:
    """The cells of :func:`grid` by file name (a cell of both parts of the grid once)."""
    return {cell.file_name(settings): cell for cell in grid(settings)}


def cell_keys(settings: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(function, variant, noise) of every cell of :func:`grid`, once each."""
    return [
        (function_key(cell.spec), cell.variant.key, cell.noise)
        for cell in stored_cells(settings).values()
    ]


def run_cells(settings: dict[str, Any], runs_dir: Path) -> pd.DataFrame:
    """The records (:func:`cell_result`) of every cell of :func:`grid`, each saved as soon
    as it is done as ``runs_dir/<cell>.csv.gz`` and read back (after :func:`check_cell`) on
    a rerun with the same settings and numerics (with ``missing_runs: report``, cells not
    stored are only named, not computed); ``settings["workers"]`` processes (``auto``: one
    per CPU core; never more than the cores) run the cells. Returns all records, in the
    order of the grid."""
    torch.set_num_threads(1)  # tiny problems: threads only add overhead
    cells = stored_cells(settings)
    jobs: dict[str, Callable[[], pd.DataFrame]] = {
        name: partial(cell_result, cell.spec, cell.variant, cell.noise, settings)
        for name, cell in cells.items()
    }

    def check(name: str, table: pd.DataFrame) -> str | None:
        return check_cell(cells[name], table, settings)

    stored = collect_runs(runs_dir, jobs, settings, check, unit="cell")
    return pd.concat(stored, ignore_index=True) if stored else pd.DataFrame(columns=RECORD_COLUMNS)
