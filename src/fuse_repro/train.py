"""The training loop shared by the image experiments.

One *run* trains one model with one optimizer from one seed and logs a row after every
epoch (and one before training): the full-training-set loss, the test loss and accuracy
on the whole test set, the closure evaluations (forward+backward passes, counted the same
way for every optimizer), the training wall time (evaluation excluded) and the phase the
optimizer was in during that epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.nn import functional as F
from tqdm import tqdm

from fuse_repro.models import build_model
from fuse_repro.optimizers import build_optimizer
from fuse_repro.runstore import digest, source_digest, stored_runs

LOG_COLUMNS = ["model", "optimizer", "seed", "epoch", "step", "wall_time", "closure_evals",
               "train_loss", "test_loss", "test_accuracy", "phase"]


@dataclass
class Split:
    """Images as float tensors in [0, 1] (N, C, H, W) and int64 labels, on one device."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_uint8(cls, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                   size: int | None = None) -> "Split":
        if size is not None:
            x, y = x[:size], y[:size]
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return cls(x.to(device).float().div_(255.0), y.to(device))


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, batch_size: int = 2000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the whole split (model in eval mode)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=split.x.device)
    correct = torch.zeros((), device=split.x.device)
    for start in range(0, len(split.y), batch_size):
        logits = model(split.x[start:start + batch_size])
        labels = split.y[start:start + batch_size]
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
    model.train(was_training)
    n = len(split.y)
    return loss_sum.item() / n, correct.item() / n


def train_run(model_name: str, optimizer_name: str, seed: int, config: dict[str, Any],
              train: Split, test: Split) -> pd.DataFrame:
    """Train one run; the batch order depends on ``seed`` only, so every optimizer sees
    the same batches for a seed. The last incomplete batch is dropped (as the official
    code does)."""
    device = train.x.device
    model = build_model(model_name, seed).to(device)
    model.train()
    optimizer = build_optimizer(optimizer_name, model.parameters(), config)
    order = torch.Generator().manual_seed(seed)
    batch_size = config["batch_size"]
    n_batches = len(train.y) // batch_size
    if n_batches == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the training set "
                         f"({len(train.y)} images)")
    evals, step, wall = 0, 0, 0.0
    rows = []

    def log(epoch: int, phase: str) -> float:
        """Append the row of ``epoch``; return the full-training-set loss."""
        train_loss, _ = evaluate(model, train)
        test_loss, test_accuracy = evaluate(model, test)
        rows.append(dict(model=model_name, optimizer=optimizer_name, seed=seed, epoch=epoch,
                         step=step, wall_time=wall, closure_evals=evals,
                         train_loss=train_loss, test_loss=test_loss,
                         test_accuracy=test_accuracy, phase=phase))
        return train_loss

    log(0, optimizer.phase)
    for epoch in range(1, config["epochs"] + 1):
        phase = optimizer.phase
        permutation = torch.randperm(len(train.y), generator=order).to(device)
        started = time.perf_counter()
        for b in range(n_batches):
            index = permutation[b * batch_size:(b + 1) * batch_size]
            x, y = train.x[index], train.y[index]

            def closure() -> torch.Tensor:
                nonlocal evals
                evals += 1
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss

            optimizer.step(closure)
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall += time.perf_counter() - started
        train_loss = log(epoch, phase)
        optimizer.end_epoch(train_loss)
    return pd.DataFrame(rows, columns=LOG_COLUMNS)


GRID_KEYS = ("models", "optimizers", "seeds")
RUN_SOURCES = ("fuse.py", "fuse_repro/train.py", "fuse_repro/models.py",
               "fuse_repro/optimizers.py")


def run_key(config: dict[str, Any], run: tuple[str, str, int], data_id: str,
            device: torch.device) -> str:
    """A digest of everything one run's result depends on: the experiment's settings
    (not the grid lists), the run itself, the data, the device, the torch version and the
    source of the code it runs."""
    settings = {k: v for k, v in config.items() if k not in GRID_KEYS}
    return digest(settings, list(run), data_id, str(device), source_digest(*RUN_SOURCES))


def run_grid(config: dict[str, Any], train: Split, test: Split, runs_dir: Path,
             data_id: str) -> pd.DataFrame:
    """Every model x optimizer x seed of ``config``; returns all rows.

    Each finished run is written at once to ``runs_dir/<model>__<optimizer>__seed<seed>
    __<key>.csv``, ``key`` from :func:`run_key`; a rerun after a crash (the stage's output
    persists) reads back the runs already done (:func:`fuse_repro.runstore.stored_runs`)."""
    grid = [(m, o, s) for m in config["models"] for o in config["optimizers"]
            for s in config["seeds"]]
    jobs = {f"{m}__{o}__seed{s}__{run_key(config, (m, o, s), data_id, train.x.device)}.csv":
            partial(train_run, m, o, s, config, train, test) for m, o, s in grid}
    frames = []
    with tqdm(total=len(jobs), desc="runs", unit="run") as bar:
        for _, frame, kept in stored_runs(runs_dir, jobs):
            last = frame.iloc[-1]
            bar.write(f"{last.model:4s} {last.optimizer:17s} seed {last.seed:3d}: "
                      f"test acc {last.test_accuracy:.4f}, train loss {last.train_loss:.4f}, "
                      f"{last.closure_evals} evals, {last.wall_time:.1f} s, final phase "
                      f"{last.phase}{' (kept from an earlier run)' if kept else ''}")
            bar.update()
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)
