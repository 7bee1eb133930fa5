"""How long an image experiment's paper grid should take on one GPU, from a CPU profile.

Usage::

    python benchmarks/grid_estimate.py [--experiment cifar10] [--steps 40] [--out PATH]

writes ``benchmarks/results/grid_estimate/<experiment>.json`` (the paper report cites it
while the grid is not run).

The paper's CIFAR-10 model (DenseNet3, 4,682 parameters) is far too small to keep a GPU
busy: a step costs what launching its operations costs, not arithmetic. So the estimate
has two parts, both measured here, on the CPU:

1. *Host time per closure evaluation.* Each phase's ``step(closure)`` (SGD, Adam, torch
   L-BFGS, FUSE's L-BFGS phase) is timed on real images at batches 2 and 16; the line
   through the two, at batch 0, is the time without arithmetic: dispatching the operations
   (Python, autograd, ATen), which a GPU run's host does for every evaluation too (kernel
   launches are asynchronous), plus, for each ATen operation that reaches a backend (one
   GPU kernel each, counted with a ``TorchDispatchMode``), ``--launch-us`` (default 5 µs)
   to launch it. Evaluations per step are counted at the paper's batch size.
2. *Arithmetic per closure evaluation* at the paper's batch size, counted with
   ``torch.utils.flop_counter.FlopCounterMode``, at ``--tflops`` sustained (default 20
   TFLOP/s in float32, under a third of an H100's or H200's FP32 peak).

The grid's time is the sum over its runs of steps x max(host time, arithmetic time), plus
scoring the training and test sets every epoch; with ``workers`` runs at once (one
process each, ``params.yaml``: ``workers``) the host work spreads over that many CPU
cores (the machine needs that many) while the arithmetic still adds up on the one device:
``max(host / workers, device)``. The FUSE-PV gradient and loss
rules and the official variant are counted as switching as early as they may (an upper
bound). The numbers are an estimate to be replaced by a measurement (``make train
EXPERIMENT=cifar10`` on a GPU writes each run's wall time).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from fuse_repro.core.data import SPLIT_SIZES, load_prepared
from fuse_repro.core.optimizers import build_optimizer
from fuse_repro.core.paths import estimate_path, repository_root
from fuse_repro.image.models import build_model
from fuse_repro.params import load, resolve

PHASES = {  # what each step of a phase costs, measured as this optimizer
    "sgd": ("sgd", {}),
    "adam": ("adam", {}),
    "lbfgs": ("lbfgs", {}),
    "fuse_lbfgs": ("fuse_pv_epoch", {"switch_epoch": 0}),
}


def schedule(settings: dict) -> dict[str, list[tuple[str, int]]]:
    """Per optimizer of the grid: its phases and their epochs (switches as early as the
    settings allow)."""
    epochs, fp = settings["epochs"], settings["fuse_pv"]
    official = settings["fuse_pv_official"]["adam_epochs"]
    table = {
        "sgd": [("sgd", epochs)],
        "adam": [("adam", epochs)],
        "lbfgs": [("lbfgs", epochs)],
        "adam_sgd": [("adam", s := settings["adam_sgd"]["switch_epoch"]), ("sgd", epochs - s)],
        "fuse_pv_epoch": [
            ("adam", fp["switch_epoch"]),
            ("fuse_lbfgs", epochs - fp["switch_epoch"]),
        ],
        "fuse_pv_official": [("adam", official), ("lbfgs", epochs - official)],
    }
    for rule in ("fuse_pv_gradient", "fuse_pv_loss"):
        table[rule] = [("adam", fp["warmup_epochs"]), ("fuse_lbfgs", epochs - fp["warmup_epochs"])]
    return {name: table[name] for name in settings["optimizers"]}


class OperationCounter(TorchDispatchMode):
    """Counts the ATen operations that reach a backend: on a GPU, one kernel launch each."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.count += 1
        return func(*args, **(kwargs or {}))


def time_steps(
    settings: dict, phase: str, images: torch.Tensor, labels: torch.Tensor, batch: int, steps: int
) -> tuple[float, float, float]:
    """Median seconds per closure evaluation, evaluations per step and ATen operations per
    evaluation (one more step, counted) of ``steps`` steps (after 3 warm-up steps below
    the paper's batch size) of ``phase`` at ``batch`` on the CPU."""
    name, fuse_pv = PHASES[phase]
    model = build_model(settings["models"][0], seed=0)
    phase_settings = dict(settings, fuse_pv=dict(settings["fuse_pv"], **fuse_pv))
    optimizer = build_optimizer(name, model.parameters(), phase_settings)
    evals, per_eval = 0, []
    warm_up = 3 if batch < settings["batch_size"] else 0  # counting needs no warm-up
    for step in range(steps + warm_up):
        start = (step * batch) % (len(labels) - batch)
        x, y = images[start : start + batch], labels[start : start + batch]

        def closure() -> torch.Tensor:
            nonlocal evals
            evals += 1
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss

        before, started = evals, time.perf_counter()
        optimizer.step(closure)
        if step >= warm_up:
            per_eval.append((time.perf_counter() - started) / (evals - before))
        else:
            evals = 0
    per_step, before = evals / steps, evals
    with OperationCounter() as counter:
        if batch < settings["batch_size"]:  # the count does not depend on the batch
            optimizer.step(closure)
    operations = counter.count / max(evals - before, 1)
    return sorted(per_eval)[len(per_eval) // 2], per_step, operations


def host_cost(
    settings: dict, images: torch.Tensor, labels: torch.Tensor, steps: int, count_steps: int
) -> dict:
    """Per phase: dispatch seconds per closure evaluation, the intercept at batch 0 of the
    times at batches 2 and 16 (what remains without arithmetic), ATen operations per
    evaluation, and evaluations per step over ``count_steps`` steps at the paper's batch
    size."""
    costs = {}
    for phase in PHASES:
        small, _, operations = time_steps(settings, phase, images, labels, 2, steps)
        large, _, _ = time_steps(settings, phase, images, labels, 16, steps)
        _, evals, _ = time_steps(
            settings, phase, images, labels, settings["batch_size"], count_steps
        )
        costs[phase] = {
            "dispatch_seconds_per_eval": max(small - (large - small) * 2 / 14, 0.0),
            "operations_per_eval": operations,
            "evals_per_step": evals,
        }
    return costs


def flops_per_eval(model_name: str, batch_size: int, shape: tuple[int, ...]) -> int:
    """Forward+backward FLOPs of one closure evaluation at ``batch_size``."""
    model = build_model(model_name, seed=0)
    x = torch.rand(batch_size, *shape)
    y = torch.randint(0, 10, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="cifar10")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per phase")
    parser.add_argument(
        "--count-steps", type=int, default=10, help="steps counting evaluations, paper batch"
    )
    parser.add_argument("--tflops", type=float, default=20.0, help="sustained GPU TFLOP/s")
    parser.add_argument("--launch-us", type=float, default=5.0, help="µs per kernel launch")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--out", type=Path, help="default: where the report reads it")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = repository_root()
    settings = resolve(load(root / "params.yaml"), args.experiment, "paper")
    data = load_prepared(root / "prepared", args.experiment)
    images = data["train_x"][:4096].float().div(255.0)
    images = images.unsqueeze(1) if images.dim() == 3 else images
    labels = data["train_y"][:4096]
    costs = host_cost(settings, images, labels, args.steps, args.count_steps)
    train_images = settings["train_size"] or SPLIT_SIZES[args.experiment]["train"]
    steps_per_epoch = train_images // settings["batch_size"]
    flops = flops_per_eval(settings["models"][0], settings["batch_size"], images.shape[1:])
    arithmetic = flops / (args.tflops * 1e12)
    scored = train_images + (settings["test_size"] or SPLIT_SIZES[args.experiment]["test"])
    scoring = flops / 3 * scored / settings["batch_size"] / (args.tflops * 1e12)  # forward only
    runs = len(settings["models"]) * len(settings["seeds"])
    host = device = 0.0
    for phases in schedule(settings).values():
        for phase, epochs in phases:
            cost = costs[phase]
            evals = runs * epochs * steps_per_epoch * cost["evals_per_step"]
            launches = cost["operations_per_eval"] * args.launch_us * 1e-6
            host += evals * (cost["dispatch_seconds_per_eval"] + launches)
            device += (
                runs * epochs * (steps_per_epoch * cost["evals_per_step"] * arithmetic + scoring)
            )
    estimate = {
        "experiment": args.experiment,
        "model": settings["models"][0],
        "grid_runs": runs * len(settings["optimizers"]),
        "epochs": settings["epochs"],
        "steps_per_epoch": steps_per_epoch,
        "host_cost_per_phase": costs,
        "flops_per_eval": flops,
        "assumed_tflops": args.tflops,
        "assumed_launch_us": args.launch_us,
        "host_seconds": host,
        "device_seconds": device,
        "estimated_minutes": {
            str(workers): max(host / workers, device) / 60 for workers in args.workers
        },
        "profiled_on": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "command": " ".join(
            ["python benchmarks/grid_estimate.py", *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    print(json.dumps(estimate, indent=2))
    out = args.out or estimate_path(root, args.experiment)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(estimate, indent=2) + "\n")


if __name__ == "__main__":
    main()
