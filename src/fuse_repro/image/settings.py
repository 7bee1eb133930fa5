"""The settings of an image-classification experiment (one ``params.yaml`` block per
dataset): their schema and the relations between keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fuse_repro.core.data import SPLIT_SIZES
from fuse_repro.core.optimizers import REGISTRY, names, settings_schema
from fuse_repro.core.schema import (
    POSITIVE_INT,
    Boolean,
    Choice,
    ListOf,
    Number,
    Or,
    ParamsError,
    Record,
)


@dataclass(frozen=True)
class Dataset:
    """An image experiment: its display label, the models it can train, input channels."""

    label: str
    models: tuple[str, ...]
    channels: int


DATASETS = {
    "fashion_mnist": Dataset("FashionMNIST", ("cnn", "mlp"), 1),
    "cifar10": Dataset("CIFAR-10", ("densenet_paper", "densenet_bc100"), 3),
}
"""The image experiments (one ``params.yaml`` block and one pipeline stage each)."""
DEVICES = ("auto", "cpu", "cuda")
BATCH_NORM_UPDATES = ("every_evaluation", "step_start")
"""When batch norm's running statistics move (:class:`fuse_repro.image.runs.BatchNormUpdates`)."""


def schema(dataset: str) -> dict[str, Any]:
    """The schema of ``dataset``'s block at one scale."""
    sizes = SPLIT_SIZES[dataset]
    return {
        "models": ListOf(Choice(DATASETS[dataset].models)),
        "optimizers": ListOf(Choice(names("image"))),
        "seeds": ListOf(Number(integer=True, low=0)),
        "epochs": POSITIVE_INT,
        "batch_size": POSITIVE_INT,
        "train_size": Number(integer=True, low=1, high=sizes["train"], nullable=True),
        "validation_size": Number(integer=True, low=1, high=sizes["train"] - 1, nullable=True),
        "test_size": Number(integer=True, low=1, high=sizes["test"], nullable=True),
        "normalize": Or(
            None,
            Record(
                {
                    "mean": ListOf(Number(), unique=False),
                    "std": ListOf(Number(low=0.0, positive=True), unique=False),
                }
            ),
        ),
        "device": Choice(DEVICES),
        "channels_last": Boolean(),
        "bf16": Boolean(),
        "batch_norm_updates": Choice(BATCH_NORM_UPDATES),
        "eval_every": Number(integer=True, low=1, nullable=True),
        "processes": POSITIVE_INT,
        "workers": POSITIVE_INT,
        "target_accuracy": Number(low=0.0, high=1.0),
        **settings_schema("image"),
    }


def check_relations(block: dict[str, Any], dataset: str, key: str) -> None:
    """Relations between the keys of ``dataset``'s block (``key``: its path)."""
    epochs = block["epochs"]
    for setting in ("adam_sgd.switch_epoch", "fuse_pv.switch_epoch", "fuse_pv.warmup_epochs"):
        section, name = setting.split(".")
        if block[section][name] >= epochs:
            raise ParamsError(
                f"{key}.{setting}: must be < epochs ({epochs}; otherwise the run never "
                f"switches and is Adam throughout), got {block[section][name]}"
            )
    watching = [name for name in block["optimizers"] if REGISTRY[name].needs_validation]
    if watching and block["validation_size"] is None:
        raise ParamsError(
            f"{key}.optimizers: {', '.join(watching)} watch the validation loss, so "
            f"validation_size must set a validation split, got null"
        )
    available = SPLIT_SIZES[dataset]["train"] - (block["validation_size"] or 0)
    if block["train_size"] is not None and block["train_size"] > available:
        raise ParamsError(
            f"{key}.train_size: must be <= the {available} training images left beside the "
            f"validation split (validation_size), got {block['train_size']}"
        )
    train_images = block["train_size"] or available
    if block["batch_size"] > train_images:
        raise ParamsError(
            f"{key}.batch_size: must be <= the {train_images} training images "
            f"(train_size), got {block['batch_size']}"
        )
    if block["workers"] > 1 and block["processes"] > 1:
        raise ParamsError(
            f"{key}.workers: several runs at once (workers) and one run over several "
            f"processes (processes) do not combine; set one of them to 1, got workers "
            f"{block['workers']} and processes {block['processes']}"
        )
    if block["batch_size"] % block["processes"]:
        raise ParamsError(
            f"{key}.batch_size: must be divisible by processes "
            f"({block['processes']}), got {block['batch_size']}"
        )
    channels = DATASETS[dataset].channels
    for stat in ("mean", "std"):
        if block["normalize"] is not None and len(block["normalize"][stat]) != channels:
            raise ParamsError(
                f"{key}.normalize.{stat}: needs {channels} values (one per "
                f"channel), got {block['normalize'][stat]!r}"
            )
