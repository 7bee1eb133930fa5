"""The training loop shared by the image experiments.

One *run* trains one model with one optimizer from one seed and logs a row after every
epoch (and one before training): the loss and accuracy on the whole training set, on the
validation split (NaN without one) and on the test set, the closure evaluations
(forward+backward passes, counted the same way for every optimizer), the training wall
time (evaluation excluded), the phase the optimizer was in during that epoch, the device,
the number of processes, and ``grad_norm``: the epoch mean of the mini-batch gradient
norm at the start of each step, ``mean_t ||∇f_{B_t}(x_t)||_2``, the statistic FUSE-PV's
gradient rule monitors (logged for every optimizer, so any run shows where that rule would
have switched; the loss rule monitors ``train_loss`` or ``val_loss``).

The validation split (``validation_size`` images, none when null) is a fixed random part
of the training images, never trained on; ``train_size`` then picks from the rest.

With ``eval_every`` = k (null: off) a run is also scored at a fixed cadence in closure
evaluations, as AlgoPerf evaluates at a fixed cadence: after each step that takes the
count of evaluations past a multiple of k, a row like the epoch's (``grad_norm`` NaN, the
scoring not timed) is logged at the fractional epoch ``e - 1 + b / n`` (after batch b of
n in epoch e). Epoch-level rows stay where they are; methods that spend different numbers
of evaluations per epoch (an L-BFGS step evaluates the closure several times) are then
scored at the same spacing in evaluations, not once per epoch each, which is what a time
to target needs (:func:`fuse_repro.image.sweeps.time_to_target_table`).

Options of an experiment's block (params.yaml): inputs normalised per channel
(``normalize``), ``channels_last`` memory format, bf16 autocast inside the closure
(``bf16``; parameters and optimizer state stay float32), and ``processes`` > 1 for data
parallelism under torchrun (:mod:`fuse_repro.core.distributed`). A run writes a checkpoint
after every epoch, so a killed run resumes from its last finished epoch; on the CPU it
ends bit for bit as an uninterrupted run (on GPUs, cuDNN and NCCL reductions are not
deterministic, so within rounding).

A run whose parameters are no longer all finite after an epoch has diverged: an update
:math:`x \\leftarrow x - \\Delta` (or a blend of two such points) keeps a non-finite
coordinate non-finite, so no later epoch can recover. The run ends there: its remaining
epochs are logged as copies of the last evaluated row with phase ``diverged`` (no steps,
closure evaluations or time added, ``grad_norm`` NaN), instead of training and scoring
a model that can never be finite again (torch L-BFGS on the paper-scale CNN diverged in
its first epoch and would have spent 100 epochs computing NaNs).

Each row also carries the optimizer's counters (:data:`fuse_repro.core.optimizers.COUNTERS`:
FUSE's switch step, epoch and reason, L-BFGS iterations, skipped pairs, line-search
failures, ...; empty for optimizers without them), read when the row is logged, before the
epoch's end-of-epoch switch decision (which shows in the next row).

Command line (what each torchrun process runs; the parent passes the resolved settings)::

    torchrun --standalone --nproc-per-node N -m fuse_repro.image.runs --settings JSON
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from fuse import gradient_norm
from fuse_repro.core.data import fingerprint, load_prepared
from fuse_repro.core.distributed import SINGLE_PROCESS, World, launch
from fuse_repro.core.optimizers import COUNTERS, REGISTRY, build_optimizer
from fuse_repro.core.runstore import digest, later_settings, stored_runs
from fuse_repro.image.models import build_model
from fuse_repro.image.settings import BATCH_NORM_UPDATES

LOG_COLUMNS = [
    "model",
    "optimizer",
    "seed",
    "epoch",
    "step",
    "wall_time",
    "closure_evals",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "grad_norm",
    "phase",
    "device",
    "processes",
    *COUNTERS,
]


DIVERGED = "diverged"


def passed_a_multiple(before: int, after: int, every: int | None) -> bool:
    """Whether counting from ``before`` to ``after`` passed a multiple of ``every``
    (never when ``every`` is None)."""
    return every is not None and after // every > before // every


def whole_epochs(log: pd.DataFrame) -> pd.DataFrame:
    """The rows logged before training and at the end of each epoch, without the rows of
    the ``eval_every`` cadence (at fractional epochs)."""
    return log[log["epoch"] % 1 == 0]


def diverged(model: torch.nn.Module) -> bool:
    """Whether some parameter of ``model`` is not finite (one host synchronisation)."""
    return not torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all().item()


def diverged_rows(last: dict[str, Any], epochs: int) -> list[dict[str, Any]]:
    """The rows of the epochs after ``last`` up to ``epochs`` of a run that diverged at
    ``last``: its evaluation repeated (the model no longer changes), phase ``diverged``,
    no gradient norm."""
    return [
        dict(last, epoch=epoch, phase=DIVERGED, grad_norm=math.nan)
        for epoch in range(last["epoch"] + 1, epochs + 1)
    ]


class BatchNormUpdates:
    """When batch norm's running statistics move during training.

    A line search evaluates the closure at trial points that are then rejected (up to
    ``max_eval`` per step, some of them far too long), and in train mode every evaluation
    moves the running statistics, :math:`\\hat\\mu \\leftarrow (1-m)\\hat\\mu + m\\,
    \\mu_B(x_{\text{trial}})`. ``every_evaluation`` (torch's behaviour, and the official
    code's) keeps that; ``step_start`` lets only the first evaluation of each step move
    them: the one at :math:`x_k`, the point the previous step accepted (the momentum of
    the later evaluations is set to 0, which leaves the statistics exactly as they are).
    Adam and SGD evaluate once per step, so for them both options are the same."""

    def __init__(self, model: torch.nn.Module, mode: str) -> None:
        if mode not in BATCH_NORM_UPDATES:
            raise ValueError(
                f"batch_norm_updates: must be one of {BATCH_NORM_UPDATES}, got {mode!r}"
            )
        self.mode = mode
        self.momenta = {
            m: m.momentum
            for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        }

    def update_running_statistics(self, at_step_start: bool) -> None:
        """Set the momenta for the next evaluation (the first of a step, or a later one)."""
        if self.mode == "every_evaluation":
            return
        for module, momentum in self.momenta.items():
            module.momentum = momentum if at_step_start else 0.0


@dataclass
class Split:
    """Images as float tensors (N, C, H, W) and int64 labels, on one device."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_uint8(
        cls,
        x: torch.Tensor,
        y: torch.Tensor,
        device: torch.device,
        subset: torch.Tensor | None = None,
        normalize: dict | None = None,
    ) -> Split:
        """The images at indices ``subset`` (all: None), scaled to [0, 1], then, with
        ``normalize = {"mean": [...], "std": [...]}``, to ``(x - mean) / std`` per channel."""
        if subset is not None:
            x, y = x[subset], y[subset]
        if x.dim() == 3:
            x = x.unsqueeze(1)
        x = x.to(device).float().div_(255.0)
        if normalize is not None:
            mean, std = (
                torch.tensor(normalize[k], device=device).view(1, -1, 1, 1) for k in ("mean", "std")
            )
            x = x.sub_(mean).div_(std)
        return cls(x, y.to(device))


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)


@dataclass
class Splits:
    """The images of one experiment: training, validation (None: no split) and test."""

    train: Split
    validation: Split | None
    test: Split


def subset_indices(
    total: int, size: int | None, held_out: int = 0
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Indices of ``size`` images (all: None) and of ``held_out`` others, both fixed random
    subsets of ``range(total)`` (the same for every run and seed), not the first ones:
    files may be ordered by class (the CIFAR-10 JPEG re-encoding is).

    One permutation (seed 0) gives both: the subset is its head, the held-out images its
    tail, so a subset without held-out images is what it was before they existed."""
    if held_out == 0 and (size is None or size >= total):
        return None, None
    order = torch.randperm(total, generator=torch.Generator().manual_seed(0))
    rest = order[: total - held_out]
    return rest[:size] if size is not None else rest, order[
        total - held_out :
    ] if held_out else None


def load_splits(
    experiment: str, settings: dict[str, Any], prepared_dir: str | Path, device: torch.device
) -> Splits:
    """The training, validation and test splits of ``experiment`` as its ``settings`` ask."""
    data = load_prepared(prepared_dir, experiment)
    normalize = settings.get("normalize")
    validation_size = settings.get("validation_size") or 0
    train, validation = subset_indices(
        len(data["train_y"]), settings["train_size"], validation_size
    )
    test, _ = subset_indices(len(data["test_y"]), settings["test_size"])
    return Splits(
        Split.from_uint8(data["train_x"], data["train_y"], device, train, normalize),
        Split.from_uint8(data["train_x"], data["train_y"], device, validation, normalize)
        if validation_size
        else None,
        Split.from_uint8(data["test_x"], data["test_y"], device, test, normalize),
    )


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, split: Split, world: World = SINGLE_PROCESS, batch_size: int = 2000
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the whole split (model in eval mode); with
    several processes each scores its share and the sums are all-reduced."""
    was_training = model.training
    model.eval()
    x, y = world.shard(split.x), world.shard(split.y)
    sums = torch.zeros(2, device=split.x.device)  # loss, correct
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        labels = y[start : start + batch_size]
        sums[0] += F.cross_entropy(logits, labels, reduction="sum")
        sums[1] += (logits.argmax(1) == labels).sum()
    model.train(was_training)
    loss_sum, correct = world.sum(sums).tolist()
    return loss_sum / len(split.y), correct / len(split.y)


def device_name(device: torch.device) -> str:
    """``cpu``, or ``cuda:<GPU model>``, for the logs."""
    return f"cuda:{torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type


def _data_parallel(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """``model`` itself alone; under torchrun, wrapped in DistributedDataParallel (with
    synchronised batch norm on GPUs, so N processes compute what one would)."""
    if world.size == 1:
        return model
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device])
    return DistributedDataParallel(model)  # CPU/gloo: batch norm statistics per process


def _save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: Any,
    order: torch.Generator,
    progress: dict[str, Any],
) -> None:
    """Model, optimizer (either phase), batch-order generator, RNG states and the log so
    far, written atomically."""
    payload = dict(
        progress,
        model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        order=order.get_state(),
        rng=torch.get_rng_state(),
        cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    )
    partial_path = path.with_name(f".{path.name}.partial")
    torch.save(payload, partial_path)
    partial_path.replace(path)


CHECKPOINT_KEYS = {"epoch", "step", "evals", "wall", "rows", "model", "optimizer", "order", "rng"}


def whole_rows(payload: dict[str, Any]) -> int:
    """The rows of whole epochs a checkpoint's log holds (beside the cadence's)."""
    return sum(row["epoch"] % 1 == 0 for row in payload["rows"])


def _read_checkpoint(path: Path, epochs: int) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it is one of a run with ``epochs`` epochs that is not
    finished; otherwise it is named on stderr, set aside as ``<name>.damaged`` and the run
    starts from the beginning (nothing damaged is ever resumed)."""
    try:
        # our own file: optimizer state and the log so far; RNG states stay CPU tensors
        payload = torch.load(path, map_location="cpu", weights_only=False)
        problem = None
        if not isinstance(payload, dict) or not CHECKPOINT_KEYS <= set(payload):
            problem = "not a checkpoint of this project"
        elif not 1 <= payload["epoch"] < epochs or whole_rows(payload) != payload["epoch"] + 1:
            problem = f"epoch {payload['epoch']} with {whole_rows(payload)} rows of whole epochs"
    except Exception as error:  # any unpickling failure: a damaged file
        problem = f"unreadable: {type(error).__name__}: {error}"
    if problem is None:
        return payload
    aside = path.with_name(f"{path.name}.damaged")
    print(f"{path}: damaged checkpoint ({problem}); set aside as {aside.name}", file=sys.stderr)
    path.replace(aside)
    return None


def _resume(
    payload: dict[str, Any], model: torch.nn.Module, optimizer: Any, order: torch.Generator
) -> dict[str, Any]:
    """Put model, optimizer, batch order and RNG states where ``payload`` left them;
    returns the progress (epoch, step, evaluations, wall time, rows)."""
    model.load_state_dict(payload.pop("model"))
    optimizer.load_state_dict(payload.pop("optimizer"))
    order.set_state(payload.pop("order"))
    torch.set_rng_state(payload.pop("rng"))
    cuda_rng = payload.pop("cuda_rng")
    if cuda_rng:
        torch.cuda.set_rng_state_all(cuda_rng)
    return payload


def train_run(
    model_name: str,
    optimizer_name: str,
    seed: int,
    settings: dict[str, Any],
    splits: Splits,
    checkpoint: Path | None = None,
) -> pd.DataFrame:
    """Train one run; the batch order depends on ``seed`` only, so every optimizer sees
    the same batches for a seed. The last incomplete batch is dropped (as the official
    code does). With ``checkpoint``, the state after every epoch is saved there, and a
    checkpoint found at the start is resumed from."""
    world = World.current()
    train = splits.train
    device = train.x.device
    memory_format = (
        torch.channels_last if settings.get("channels_last") else torch.contiguous_format
    )
    model = build_model(model_name, seed).to(device, memory_format=memory_format)
    model.train()
    net = _data_parallel(model, world, device)
    if REGISTRY[optimizer_name].needs_validation and splits.validation is None:
        raise ValueError(
            f"{optimizer_name} watches the validation loss: the run needs a validation "
            "split (validation_size in params.yaml)"
        )
    optimizer = build_optimizer(optimizer_name, model.parameters(), settings)
    batch_norms = BatchNormUpdates(model, later_setting(settings, "batch_norm_updates"))
    order = torch.Generator().manual_seed(seed)
    batch_size = settings["batch_size"]
    n_batches = len(train.y) // batch_size
    if n_batches == 0:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({len(train.y)} images)"
        )
    if batch_size % world.size:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {world.size} processes")
    autocast = partial(
        torch.autocast, device.type, dtype=torch.bfloat16, enabled=bool(settings.get("bf16"))
    )
    progress = {"epoch": 0, "step": 0, "evals": 0, "wall": 0.0, "rows": []}
    eval_every = later_setting(settings, "eval_every")

    def stop_clock(started: float) -> None:
        """Add the training time since ``started`` (device work included) to the run's."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        progress["wall"] += time.perf_counter() - started

    def log(epoch: float, phase: str, grad_norm: float = math.nan) -> tuple[float, float | None]:
        """Append the row of ``epoch`` (fractional for a row of the ``eval_every``
        cadence); return the losses on the full training set and on the validation split
        (None without one)."""
        train_loss, train_accuracy = evaluate(model, train, world)
        val_loss, val_accuracy = (
            evaluate(model, splits.validation, world) if splits.validation else (math.nan,) * 2
        )
        test_loss, test_accuracy = evaluate(model, splits.test, world)
        progress["rows"].append(
            dict(
                model=model_name,
                optimizer=optimizer_name,
                seed=seed,
                epoch=epoch,
                step=progress["step"],
                wall_time=progress["wall"],
                closure_evals=progress["evals"],
                train_loss=train_loss,
                train_accuracy=train_accuracy,
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                test_loss=test_loss,
                test_accuracy=test_accuracy,
                grad_norm=grad_norm,
                phase=phase,
                device=device_name(device),
                processes=world.size,
                **{k: math.nan if v is None else v for k, v in optimizer.counters.items()},
            )
        )
        return train_loss, (val_loss if splits.validation else None)

    payload = None
    if checkpoint is not None and checkpoint.is_file():
        payload = _read_checkpoint(checkpoint, settings["epochs"])
    if payload is not None:
        progress = _resume(payload, model, optimizer, order)
    else:
        log(0, optimizer.phase)
    epochs = tqdm(
        range(progress["epoch"] + 1, settings["epochs"] + 1),
        initial=progress["epoch"],
        total=settings["epochs"],
        desc=f"{model_name} {optimizer_name} seed {seed}",
        unit="epoch",
        leave=False,
        disable=not world.main or multiprocessing.parent_process() is not None,  # a worker
    )
    for epoch in epochs:
        phase = optimizer.phase
        net.train(not optimizer.trains_model_in_eval_mode(epoch))
        permutation = torch.randperm(len(train.y), generator=order).to(device)
        grad_norms = torch.zeros((), device=device)  # sum over the epoch's steps, on device
        started = time.perf_counter()
        for b in range(n_batches):
            index = world.shard(permutation[b * batch_size : (b + 1) * batch_size])
            x = train.x[index].contiguous(memory_format=memory_format)
            y = train.y[index]
            step_evals = progress["evals"]

            def closure() -> torch.Tensor:
                nonlocal grad_norms
                progress["evals"] += 1
                at_step_start = progress["evals"] == step_evals + 1
                batch_norms.update_running_statistics(at_step_start)
                optimizer.zero_grad()
                with autocast():
                    logits = net(x)
                loss = F.cross_entropy(logits.float(), y)
                loss.backward()
                if at_step_start:  # the gradient at the step's start
                    grad_norms = grad_norms + gradient_norm(
                        [p.grad for p in model.parameters() if p.grad is not None]
                    )
                return world.mean(loss.detach())  # the same on every process

            optimizer.step(closure)
            progress["step"] += 1
            if b + 1 < n_batches and passed_a_multiple(step_evals, progress["evals"], eval_every):
                stop_clock(started)
                log(epoch - 1 + (b + 1) / n_batches, optimizer.phase)
                started = time.perf_counter()
        stop_clock(started)
        train_loss, val_loss = log(epoch, phase, grad_norms.item() / n_batches)
        optimizer.end_epoch(train_loss, val_loss)
        progress["epoch"] = epoch
        row = progress["rows"][-1]
        epochs.set_postfix(
            phase=phase, train_loss=f"{train_loss:.4f}", test_acc=f"{row['test_accuracy']:.4f}"
        )
        if diverged(model):
            progress["rows"] += diverged_rows(row, settings["epochs"])
            break
        if checkpoint is not None and world.main:
            _save_checkpoint(checkpoint, model, optimizer, order, progress)
    return pd.DataFrame(progress["rows"], columns=LOG_COLUMNS)


# The settings every run's numbers depend on (not the grid lists, the scale's name, the
# device request or the summary's target accuracy); each run adds its optimizer's blocks.
TRAINING_SETTINGS = (
    "epochs",
    "batch_size",
    "train_size",
    "test_size",
    "normalize",
    "channels_last",
    "bf16",
    "processes",
)
# Settings added after runs were stored, with the value that gives what runs did before
# them: such a setting enters a run's identity only when it differs from that value, so
# adding an option keeps every stored run valid.
LATER_SETTINGS = {
    "validation_size": None,
    "batch_norm_updates": "every_evaluation",
    "eval_every": None,
}


def later_setting(settings: dict[str, Any], name: str) -> Any:
    """Setting ``name`` of :data:`LATER_SETTINGS`, its earlier value where ``settings``
    predate it (as the golden logs' settings do)."""
    return settings.get(name, LATER_SETTINGS[name])


def run_key(
    settings: dict[str, Any], run: tuple[str, str, int], data_id: str, device_type: str
) -> str:
    """A digest of everything one run's result depends on: the training settings, its own
    optimizer's settings (:meth:`~fuse_repro.core.optimizers.OptimizerSpec.identity`), the
    run itself, the log's columns, the data, the device type (``cpu``, ``cuda``), and
    (:func:`digest`) the torch version and the numerics version."""
    training = {k: settings[k] for k in TRAINING_SETTINGS}
    training |= later_settings(settings, LATER_SETTINGS)
    optimizer = REGISTRY[run[1]].identity(settings)
    return digest(training, optimizer, list(run), LOG_COLUMNS, data_id, device_type)


def check_run(settings: dict[str, Any], name: str, table: pd.DataFrame) -> str | None:
    """What is wrong with ``table`` read back from run file ``name``: its columns, its
    epochs (0 to ``epochs``, one row each, increasing, with rows of the ``eval_every``
    cadence between them) and the run it names; None when complete."""
    if list(table.columns) != LOG_COLUMNS:
        return f"columns {list(table.columns)}, expected {LOG_COLUMNS}"
    epochs = table["epoch"]
    if (
        list(whole_epochs(table)["epoch"]) != list(range(settings["epochs"] + 1))
        or not (epochs.diff().dropna() > 0).all()
    ):
        return f"{len(table)} rows, expected epochs 0..{settings['epochs']} in order"
    model, optimizer, seed = name.split("__")[:3]
    run = (table["model"].iloc[0], table["optimizer"].iloc[0], f"seed{table['seed'].iloc[0]}")
    if table[["model", "optimizer", "seed"]].nunique().max() > 1 or run != (
        model,
        optimizer,
        seed,
    ):
        return f"holds the run {run}, not {(model, optimizer, seed)}"
    return None


def grid(settings: dict[str, Any]) -> list[tuple[str, str, int]]:
    """Every run of an experiment: (model, optimizer, seed) for each of the lists."""
    return [
        (model, optimizer, seed)
        for model in settings["models"]
        for optimizer in settings["optimizers"]
        for seed in settings["seeds"]
    ]


def run_grid(
    settings: dict[str, Any], splits: Splits, runs_dir: Path, data_id: str
) -> pd.DataFrame:
    """Every model x optimizer x seed of ``settings``, ``workers`` runs at a time (each in
    its own process on the same device, the data shared, not copied); returns all rows.

    Each finished run is written at once to ``runs_dir/<model>__<optimizer>__seed<seed>
    __<key>.csv.gz`` (gzip, deterministic bytes), ``key`` from :func:`run_key`; a rerun
    after a crash (the stage's output persists) reads back the runs already done
    (:func:`fuse_repro.core.runstore.stored_runs`) and resumes an interrupted one from its
    checkpoint in ``runs_dir/../checkpoints``."""
    world = World.current()
    names = {
        run: f"{run[0]}__{run[1]}__seed{run[2]}__"
        f"{run_key(settings, run, data_id, splits.train.x.device.type)}"
        for run in grid(settings)
    }
    checkpoints = runs_dir.parent / "checkpoints"
    if world.main:  # checkpoints of other settings are left alone, like their runs
        checkpoints.mkdir(parents=True, exist_ok=True)
    world.barrier()
    jobs = {
        f"{name}.csv.gz": partial(train_run, *run, settings, splits, checkpoints / f"{name}.pt")
        for run, name in names.items()
    }
    frames, train = {}, settings["missing_runs"] == "train"  # else: read back only
    with tqdm(total=len(jobs), desc="runs", unit="run", disable=not world.main) as bar:
        for name, frame, kept in stored_runs(
            runs_dir,
            jobs,
            workers=settings["workers"],
            writer=world.main,
            check=partial(check_run, settings),
            train=train,
        ):
            if world.main:  # the run's file is written: its checkpoint is done with
                (checkpoints / name.replace(".csv.gz", ".pt")).unlink(missing_ok=True)
            last = frame.iloc[-1]
            bar.write(
                f"{last.model:4s} {last.optimizer:17s} seed {last.seed:3d}: "
                f"test acc {last.test_accuracy:.4f}, train loss {last.train_loss:.4f}, "
                f"{last.closure_evals} evals, {last.wall_time:.1f} s, final phase "
                f"{last.phase}{' (kept from an earlier run)' if kept else ''}"
            )
            bar.update()
            frames[name] = frame
    if len(frames) < len(jobs) and world.main:
        print(
            f"{len(jobs) - len(frames)} of {len(jobs)} runs not stored and not trained here "
            "(missing_runs: report); train them with: python -m fuse_repro.train "
            f"{settings['experiment']} --scale {settings['scale']}"
        )
    stored = [frames[name] for name in jobs if name in frames]  # the grid's order
    log = pd.concat(stored, ignore_index=True) if stored else pd.DataFrame(columns=LOG_COLUMNS)
    return log.assign(charged_evals=charged_evals(log, splits, settings["batch_size"]))


FORWARD_SHARE = 1 / 3
"""The cost of a forward pass in forward+backward passes (closure evaluations): the
backward pass costs about twice the forward one (Kaplan et al. 2020, "Scaling laws for
neural language models", sec. 2.1: 2N of the 6N FLOPs per example of training)."""


def charged_evals(log: pd.DataFrame, splits: Splits, batch_size: int) -> pd.Series:
    """The budget a run used, in closure evaluations, with what its switch rule needs.

    ``closure_evals`` plus, for a rule that watches a loss (FUSE-PV's ``loss`` rule: the
    training loss; ``fuse_pv_val_loss``: the validation loss), one forward pass over the
    watched set at the end of every epoch until the switch (``FORWARD_SHARE`` times its
    batches of ``batch_size``): the training loop computes these losses for the log
    anyway, but a user of the rule pays for them, and the equal-budget comparisons charge
    them (AlgoPerf counts such evaluations as training time). Other rules read statistics
    of the training steps themselves and cost nothing more."""
    charge = pd.Series(0.0, index=log.index)
    for optimizer, rows in log.groupby("optimizer", sort=False):
        spec = REGISTRY[optimizer]
        if spec.switch != "loss":
            continue
        watched = splits.validation if spec.needs_validation else splits.train
        per_epoch = FORWARD_SHARE * math.ceil(len(watched.y) / batch_size)
        done = rows["epoch"] // 1  # epochs ended (a cadence row is inside an epoch)
        switched = pd.to_numeric(rows["switch_epoch"]).fillna(done)
        watched_epochs = done.clip(upper=switched)
        charge[rows.index] = per_epoch * watched_epochs
    return log["closure_evals"] + charge


def run_experiment(
    settings: dict[str, Any], prepared_dir: str | Path, runs_dir: Path
) -> pd.DataFrame:
    """The whole grid of an image experiment (``settings``: its block resolved to one
    scale, :func:`fuse_repro.params.resolve`). With ``processes`` > 1 and not yet under
    torchrun, it first runs the grid in that many processes (``torchrun``, this module's
    command line), then reads their runs back."""
    experiment = settings["experiment"]
    if settings["processes"] > 1 and not dist.is_initialized():
        launch(
            settings["processes"],
            "fuse_repro.image.runs",
            [
                "--settings",
                json.dumps(settings),
                "--prepared-dir",
                str(prepared_dir),
                "--runs-dir",
                str(runs_dir),
            ],
        )
    device = resolve_device(settings["device"])
    splits = load_splits(experiment, settings, prepared_dir, device)
    world = World.current()
    if world.main:
        validation = len(splits.validation.y) if splits.validation else 0
        print(
            f"{experiment} on {device} ({world.size} process(es)): {len(splits.train.y)} "
            f"training, {validation} validation and {len(splits.test.y)} test images"
        )
    return run_grid(settings, splits, runs_dir, fingerprint(prepared_dir, experiment))


def main(argv: list[str] | None = None) -> None:
    """Entry point of each torchrun process: join the process group (NCCL on GPUs, gloo
    on CPUs), run the grid, leave."""
    parser = argparse.ArgumentParser(description=run_experiment.__doc__)
    parser.add_argument("--settings", required=True, help="the resolved settings, as JSON")
    parser.add_argument("--prepared-dir", default="prepared")
    parser.add_argument("--runs-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    device = resolve_device(settings["device"])
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.get_world_size() != settings["processes"]:
        dist.destroy_process_group()
        raise SystemExit(
            f"{settings['experiment']}: torchrun started {dist.get_world_size()} "
            f"processes but the settings ask for processes: {settings['processes']}; "
            "make them equal"
        )
    try:
        run_experiment(settings, args.prepared_dir, args.runs_dir)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
