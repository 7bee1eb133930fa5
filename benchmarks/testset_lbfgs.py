"""FUSE's L-BFGS phase on the Moré-Garbow-Hillstrom test set, against scipy and torch.

Usage::

    python benchmarks/testset_lbfgs.py [--scales 1 10 100] [--budget 3000] [--out FILE.json]

Every problem of :mod:`mgh` (38 problems in float64, each from MGH's standard start
``x0`` and from the far starts ``10 x0`` and ``100 x0`` that MGH suggest) is solved by

* ``scipy``: ``scipy.optimize.minimize(method="L-BFGS-B")``, no bounds, ``maxcor=10``,
  tolerances ``ftol = gtol = 0`` so that it runs to the target or the budget;
* ``FUSE full batch``: ``FUSE(theta=0, full_batch=True)``, one iteration per ``step()``
  (``max_iter=1``): each step starts from the point its predecessor accepted;
* ``FUSE default``: the same with ``full_batch=False``, FUSE's default, which evaluates
  the closure again at the start of every step (what a mini-batch needs);
* ``torch``: ``torch.optim.LBFGS(history_size=10, line_search_fn="strong_wolfe")``, one
  ``step()`` with ``max_iter = max_eval = budget`` (its way of running to the end);

all with history 10 and no tolerance of their own (the FUSE and torch tolerances are 0).
A run counts as solved at the first closure evaluation with
:math:`f - f^* \\le 10^{-6} \\max(1, |f^*|)`, where :math:`f^*` is MGH's optimal value;
a run that never gets there (a local minimum, a stall, the budget) counts as unsolved.
The table gives, per start scale and method, the problems solved, and over the problems
solved by both the method and scipy, the median of the ratio "evaluations / scipy's
evaluations" (the target for FUSE full batch: at most 1.1). Per-problem counts go to the
JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.optimize
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mgh  # noqa: E402  (benchmarks/ is no package)

from fuse import FUSE  # noqa: E402

TOLERANCE = 1e-6
HISTORY_SIZE = 10
METHODS = ("scipy", "FUSE full batch", "FUSE default", "torch")
RATIO_TARGET = 1.1


def target(problem: mgh.Problem) -> float:
    """The value of f that counts as solved."""
    return problem.f_star + TOLERANCE * max(1.0, abs(problem.f_star))


class Recorder:
    """The objective as a torch closure over ``x``, recording f at every evaluation and
    stopping the run (:class:`Budget`) once the budget is spent."""

    def __init__(self, problem: mgh.Problem, x: torch.Tensor, budget: int) -> None:
        self.problem, self.x, self.budget, self.values = problem, x, budget, []

    def __call__(self) -> torch.Tensor:
        if len(self.values) >= self.budget:
            raise Budget
        self.x.grad = None
        f = self.problem.f(self.x)
        f.backward()
        self.values.append(f.item())
        return f


class Budget(Exception):
    """The run used its budget of evaluations."""


def run_scipy(problem: mgh.Problem, x0: torch.Tensor, budget: int) -> list[float]:
    """scipy's L-BFGS-B (no bounds): f at each of its evaluations."""
    values: list[float] = []

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        f = problem.f(xt)
        f.backward()
        values.append(f.item())
        return f.item(), xt.grad.numpy()

    scipy.optimize.minimize(
        fun,
        x0.numpy(),
        jac=True,
        method="L-BFGS-B",
        options=dict(maxcor=HISTORY_SIZE, ftol=0.0, gtol=0.0, maxfun=budget, maxiter=budget),
    )
    return values[:budget]


def run_fuse(problem: mgh.Problem, x0: torch.Tensor, budget: int, full_batch: bool) -> list[float]:
    """FUSE's L-BFGS phase, one iteration per step, until the budget or a step that
    changes nothing (converged, or no descent left)."""
    x = x0.clone().requires_grad_()
    record = Recorder(problem, x, budget)
    opt = FUSE(
        [x],
        theta=0.0,
        history_size=HISTORY_SIZE,
        full_batch=full_batch,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
    try:
        while True:
            before = opt.counters
            opt.step(record)
            after = opt.counters
            if (
                after["lbfgs_iterations"] == before["lbfgs_iterations"]
                and after["line_search_failures"] == before["line_search_failures"]
            ):
                break
    except Budget:
        pass
    return record.values


def run_torch(problem: mgh.Problem, x0: torch.Tensor, budget: int) -> list[float]:
    """``torch.optim.LBFGS``, one step that runs to the budget."""
    x = x0.clone().requires_grad_()
    record = Recorder(problem, x, budget)
    opt = torch.optim.LBFGS(
        [x],
        history_size=HISTORY_SIZE,
        line_search_fn="strong_wolfe",
        max_iter=budget,
        max_eval=budget,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
    try:
        opt.step(record)
    except Budget:
        pass
    return record.values


RUNNERS: dict[str, Callable[[mgh.Problem, torch.Tensor, int], list[float]]] = {
    "scipy": run_scipy,
    "FUSE full batch": lambda p, x0, b: run_fuse(p, x0, b, full_batch=True),
    "FUSE default": lambda p, x0, b: run_fuse(p, x0, b, full_batch=False),
    "torch": run_torch,
}


def evaluations_to_solve(problem: mgh.Problem, values: Sequence[float]) -> int | None:
    """The 1-based index of the first evaluation at the target, or ``None``."""
    goal = target(problem)
    return next((i for i, f in enumerate(values, 1) if math.isfinite(f) and f <= goal), None)


def solve_all(
    scales: Sequence[float], budget: int, methods: Sequence[str] = METHODS
) -> list[dict[str, Any]]:
    """One record per problem and start scale: evaluations to solve per method."""
    records = []
    for scale in scales:
        for problem in mgh.PROBLEMS:
            x0 = problem.start(scale)
            record = {"problem": problem.name, "n": problem.n, "scale": scale}
            for method in methods:
                values = RUNNERS[method](problem, x0, budget)
                record[method] = evaluations_to_solve(problem, values)
                record[f"{method} best"] = min(values, default=math.inf)
            records.append(record)
    return records


def summarise(
    records: Sequence[dict[str, Any]], methods: Sequence[str] = METHODS
) -> list[dict[str, Any]]:
    """Per start scale and method: problems solved, and the median over problems solved
    by both it and scipy of its evaluations / scipy's."""
    rows = []
    for scale in sorted({r["scale"] for r in records}):
        at_scale = [r for r in records if r["scale"] == scale]
        for method in methods:
            ratios = [
                r[method] / r["scipy"]
                for r in at_scale
                if r[method] is not None and r["scipy"] is not None
            ]
            rows.append(
                {
                    "scale": scale,
                    "method": method,
                    "problems": len(at_scale),
                    "solved": sum(r[method] is not None for r in at_scale),
                    "both": len(ratios),
                    "median_ratio": statistics.median(ratios) if ratios else None,
                }
            )
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a markdown table."""
    lines = [
        "| start | method | solved | solved by both | median evaluations / scipy's |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        ratio = "" if row["median_ratio"] is None else f"{row['median_ratio']:.2f}"
        if row["method"] == "scipy":
            ratio = "1 (reference)"
        lines.append(
            f"| {row['scale']:g} x0 | {row['method']} | {row['solved']} of "
            f"{row['problems']} | {row['both']} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print the table, write JSON when asked; return the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 10.0, 100.0])
    parser.add_argument(
        "--budget", type=int, default=3000, help="closure evaluations per run (default 3000)"
    )
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.budget < 1:
        parser.error("--budget must be >= 1")
    torch.set_num_threads(1)
    records = solve_all(args.scales, args.budget)
    rows = summarise(records)
    print(markdown(rows))
    results = {
        "command": " ".join(["python", "benchmarks/testset_lbfgs.py", *(argv or [])]),
        "torch": torch.__version__,
        "scipy": scipy.__version__,
        "tolerance": TOLERANCE,
        "budget": args.budget,
        "summary": rows,
        "records": records,
    }
    if args.out is not None:
        Path(args.out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
