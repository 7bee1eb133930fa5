"""Load and validate ``params.yaml`` before any work starts.

Every key is checked against a schema: an unknown key, a missing key, a wrong type or an
out-of-range value raises :class:`ParamsError` naming the key by its full path (for
example ``fashion_mnist.paper.fuse_pv.patience``). ``python -m fuse_repro.params`` checks
the file from the command line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fuse_repro.functions import NAMES as FUNCTION_NAMES
from fuse_repro.functions import get as get_function

SCALES = ("quick", "paper")
FASHION_MNIST_MODELS = ("cnn", "mlp")
CIFAR10_MODELS = ("densenet_paper", "densenet_bc100")
OPTIMIZERS = (
    "sgd",
    "adam",
    "lbfgs",
    "adam_sgd",
    "fuse_pv_epoch",
    "fuse_pv_gradient",
    "fuse_pv_loss",
)
DEVICES = ("auto", "cpu", "cuda")


class ParamsError(ValueError):
    """A key of params.yaml is unknown, missing, of the wrong type or out of range."""


# ------------------------------------------------------------------- schema
@dataclass(frozen=True)
class Number:
    """An int (``integer=True``) or float within ``[low, high]`` (``None``: unbounded);
    ``positive`` excludes ``low`` itself."""

    integer: bool = False
    low: float | None = None
    high: float | None = None
    positive: bool = False
    nullable: bool = False

    def check(self, value: Any, key: str) -> None:
        if value is None and self.nullable:
            return
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            raise ParamsError(
                f"{key}: expected {kind}{' or null' if self.nullable else ''}, got {value!r}"
            )
        if self.low is not None and (value < self.low or (self.positive and value == self.low)):
            relation = ">" if self.positive else ">="
            raise ParamsError(f"{key}: must be {relation} {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ParamsError(f"{key}: must be <= {self.high}, got {value!r}")


@dataclass(frozen=True)
class Record:
    """A mapping checked against ``schema`` (as a nested section), usable in lists."""

    schema: dict

    def check(self, value: Any, key: str) -> None:
        check_section(value, self.schema, key)


@dataclass(frozen=True)
class Or:
    """The value ``literal`` (``"auto"``, ``None``) or a value satisfying ``spec``."""

    literal: Any
    spec: Any

    def check(self, value: Any, key: str) -> None:
        if value is self.literal or (isinstance(value, str) and value == self.literal):
            return
        try:
            self.spec.check(value, key)
        except ParamsError as error:
            raise ParamsError(f"{error} (or {self.literal!r})") from None


@dataclass(frozen=True)
class Boolean:
    def check(self, value: Any, key: str) -> None:
        if not isinstance(value, bool):
            raise ParamsError(f"{key}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Choice:
    options: tuple

    def check(self, value: Any, key: str) -> None:
        if value not in self.options:
            raise ParamsError(f"{key}: must be one of {list(self.options)}, got {value!r}")


@dataclass(frozen=True)
class ListOf:
    """A non-empty list whose items satisfy ``item``, without repeats if ``unique``."""

    item: Any
    unique: bool = True

    def check(self, value: Any, key: str) -> None:
        if not isinstance(value, list) or not value:
            raise ParamsError(f"{key}: expected a non-empty list, got {value!r}")
        for i, element in enumerate(value):
            self.item.check(element, f"{key}[{i}]")
        if self.unique and len(set(map(repr, value))) != len(value):
            raise ParamsError(f"{key}: has repeated entries: {value!r}")


def check_section(section: Any, schema: dict[str, Any], key: str = "") -> None:
    """Check a mapping against ``schema`` (values are specs or nested schemas); ``key``
    is the mapping's path in the file (empty at the top level)."""

    def path(name: str) -> str:
        return f"{key}.{name}" if key else name

    if not isinstance(section, dict):
        raise ParamsError(f"{key or 'params'}: expected a mapping, got {section!r}")
    unknown = sorted(set(section) - set(schema))
    if unknown:
        raise ParamsError(f"{path(unknown[0])}: unknown key (known: {sorted(schema)})")
    missing = sorted(set(schema) - set(section))
    if missing:
        raise ParamsError(f"{path(missing[0])}: missing key")
    for name, spec in schema.items():
        child = path(name)
        if isinstance(spec, dict):
            check_section(section[name], spec, child)
        else:
            spec.check(section[name], child)


POSITIVE_INT = Number(integer=True, low=1)
LEARNING_RATE = Number(low=0.0, positive=True)


def image_experiment(models: tuple[str, ...], train_images: int) -> dict[str, Any]:
    """The schema of an image-classification block (FashionMNIST, CIFAR-10)."""
    return {
        "models": ListOf(Choice(models)),
        "optimizers": ListOf(Choice(OPTIMIZERS)),
        "seeds": ListOf(Number(integer=True, low=0)),
        "epochs": POSITIVE_INT,
        "batch_size": POSITIVE_INT,
        "train_size": Number(integer=True, low=1, high=train_images, nullable=True),
        "test_size": Number(integer=True, low=1, high=10000, nullable=True),
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
        "processes": POSITIVE_INT,
        "target_accuracy": Number(low=0.0, high=1.0),
        "sgd": {"lr": LEARNING_RATE},
        "adam": {"lr": LEARNING_RATE},
        "adam_sgd": {"switch_epoch": Number(integer=True, low=0)},
        "lbfgs": {
            "lr": LEARNING_RATE,
            "history_size": POSITIVE_INT,
            "max_iter": POSITIVE_INT,
            "max_eval": POSITIVE_INT,
        },
        "fuse_pv": {
            "lr": LEARNING_RATE,
            "lbfgs_lr": LEARNING_RATE,
            "history_size": POSITIVE_INT,
            "max_iter": POSITIVE_INT,
            "max_eval": POSITIVE_INT,
            "switch_epoch": Number(integer=True, low=0),
            "grad_threshold": Number(low=0.0, positive=True),
            "warmup_epochs": Number(integer=True, low=0),
            "patience": POSITIVE_INT,
            "min_delta": Number(low=0.0, high=1.0),
        },
    }


FASHION_MNIST = image_experiment(FASHION_MNIST_MODELS, 60000)
CIFAR10 = image_experiment(CIFAR10_MODELS, 50000)
IMAGE_CHANNELS = {"fashion_mnist": 1, "cifar10": 3}

TOY_OPTIMIZERS = (
    "sgd",
    "adam",
    "lbfgs",
    "fuse",
    "fuse_pv_epoch",
    "fuse_pv_gradient",
    "fuse_pv_loss",
    "scipy",
)
TEST_FUNCTION = Record({"name": Choice(FUNCTION_NAMES), "dim": Number(integer=True, low=1)})
THETA = Number(low=0.0, high=1.0)
NOISE = Number(low=0.0)
TOY = {
    "functions": ListOf(TEST_FUNCTION),
    "starts": POSITIVE_INT,
    "seed": Number(integer=True, low=0),
    "workers": Or("auto", POSITIVE_INT),
    "noise_scales": ListOf(NOISE),
    "budget": POSITIVE_INT,
    "target_gap": Number(low=0.0, positive=True),
    "success_tol": Number(low=0.0, positive=True),
    "steps_per_epoch": POSITIVE_INT,
    "optimizers": ListOf(Choice(TOY_OPTIMIZERS)),
    "sgd": {"lr": LEARNING_RATE},
    "adam": {"lr": LEARNING_RATE},
    "lbfgs": FASHION_MNIST["lbfgs"],
    "fuse": {"thetas": ListOf(THETA)},
    "fuse_pv": FASHION_MNIST["fuse_pv"],
    "scipy": {"ftol": Number(low=0.0), "gtol": Number(low=0.0)},
    "ablation": {
        "functions": ListOf(TEST_FUNCTION),
        "noise_scales": ListOf(NOISE),
        "sweeps": {
            "switch_epoch": ListOf(Number(integer=True, low=0)),
            "theta": ListOf(THETA),
            "grad_threshold": ListOf(Number(low=0.0, positive=True)),
            "min_delta": ListOf(Number(low=0.0, high=1.0)),
            "history_size": ListOf(POSITIVE_INT),
        },
    },
}

EXPERIMENTS = {"fashion_mnist": FASHION_MNIST, "cifar10": CIFAR10, "toy": TOY}


# ------------------------------------------------------------------ loading
def validate(params: Any) -> None:
    """Raise :class:`ParamsError` for the first problem found in ``params``."""
    schema = {"scale": Choice(SCALES)}
    schema.update({name: {scale: spec for scale in SCALES} for name, spec in EXPERIMENTS.items()})
    check_section(params, schema)
    for scale in SCALES:
        for name, channels in IMAGE_CHANNELS.items():
            check_image_block(params[name][scale], channels, f"{name}.{scale}")
        toy = params["toy"][scale]
        for where in ("functions", "ablation.functions"):
            specs = toy["ablation"]["functions"] if "." in where else toy["functions"]
            for i, spec in enumerate(specs):
                check_function(spec, f"toy.{scale}.{where}[{i}]")


def check_image_block(block: dict[str, Any], channels: int, key: str) -> None:
    """Relations between the keys of an image block."""
    if block["adam_sgd"]["switch_epoch"] > block["epochs"]:
        raise ParamsError(
            f"{key}.adam_sgd.switch_epoch: must be <= epochs "
            f"({block['epochs']}), got {block['adam_sgd']['switch_epoch']}"
        )
    if block["batch_size"] % block["processes"]:
        raise ParamsError(
            f"{key}.batch_size: must be divisible by processes "
            f"({block['processes']}), got {block['batch_size']}"
        )
    for stat in ("mean", "std"):
        if block["normalize"] is not None and len(block["normalize"][stat]) != channels:
            raise ParamsError(
                f"{key}.normalize.{stat}: needs {channels} values (one per "
                f"channel), got {block['normalize'][stat]!r}"
            )


def check_function(spec: dict[str, Any], key: str) -> None:
    """The test function of ``spec`` exists in that dimension."""
    try:
        get_function(spec["name"], spec["dim"])
    except ValueError as error:
        raise ParamsError(f"{key}: {error}") from None


def load(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read and validate the whole params file."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    validate(params)
    return params


def experiment_config(path: str | Path, experiment: str) -> dict[str, Any]:
    """The validated block of ``experiment`` at the file's ``scale``, with ``scale`` set."""
    params = load(path)
    if experiment not in EXPERIMENTS:
        raise ParamsError(f"{experiment}: unknown experiment (known: {sorted(EXPERIMENTS)})")
    config = dict(params[experiment][params["scale"]])
    config["scale"] = params["scale"]
    return config


def main(argv: list[str] | None = None) -> int:
    """``python -m fuse_repro.params [PATH]``: 0 when valid, 2 with the error otherwise."""
    parser = argparse.ArgumentParser(description="Validate params.yaml.")
    parser.add_argument("path", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        params = load(args.path)
    except ParamsError as error:
        print(f"params error: {error}", file=sys.stderr)
        return 2
    print(f"{args.path}: valid (scale: {params['scale']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
