"""Golden logs: tiny deterministic CPU runs of every optimizer must log exactly the numbers
committed in tests/golden/ (wall times aside), for both image experiments and the toy study.

They pin every number that training computes, so that a refactor that changes none keeps
every stored run valid, and a change that does change numbers cannot pass unnoticed: the
test fails until the golden logs are regenerated together with a bump of
``fuse_repro.core.runstore.NUMERICS_VERSION`` (which marks every stored run stale)::

    FUSE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

rewrites tests/golden/ and refuses to write changed numbers under an unchanged version
(the runs of a newly registered optimizer only add rows, a newly logged quantity only
adds columns: no bump needed for them).
The settings below are written out here, not read from params.yaml, so that editing the
experiments' settings never touches the golden logs. Each log is computed in a fresh
process with one thread (:func:`fresh_log`): inside a long test session the state earlier
tests leave behind changed last bits on an AMD EPYC (AVX2) machine, which the L-BFGS
line search amplified to the third digit, while a fresh process there logs exactly the
numbers made on the project's Intel (AVX-512) CI machines.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from fuse_repro.core.optimizers import REGISTRY, names
from fuse_repro.core.runstore import NUMERICS_VERSION
from fuse_repro.core.variants import Variant
from fuse_repro.image.runs import Splits, train_run
from fuse_repro.toy import runs as toy
from tests.helpers import synthetic_splits

GOLDEN = Path(__file__).resolve().parent / "golden"
MANIFEST = GOLDEN / "manifest.json"
UPDATE = os.environ.get("FUSE_UPDATE_GOLDEN") == "1"
UNTIMED = ["wall_time"]  # the only logged value that is not a computed number

LBFGS = {"lr": 1.0, "history_size": 4, "max_iter": 20, "max_eval": 4}
IMAGE_CONFIG = {
    "epochs": 3,
    "batch_size": 16,
    "channels_last": False,
    "bf16": False,
    "sgd": {"lr": 0.01},
    "adam": {"lr": 0.001},
    "adam_decay": {"factor": 0.1},
    "adam_sgd": {"switch_epoch": 1},
    "fuse_pv_official": {
        "lr": 0.001,
        "lbfgs_lr": 1.0,
        "history_size": 4,
        "max_iter": 20,
        "max_eval": 4,
        "adam_epochs": 1,
        "loss_threshold": 2.3,  # near the initial loss: both branches run
    },
    "lbfgs": LBFGS,
    # every rule fires after epoch 1 or 2, so each FUSE-PV run has an L-BFGS phase
    "fuse_pv": {
        "lr": 0.001,
        "lbfgs_lr": 1.0,
        "history_size": 4,
        "max_iter": 20,
        "max_eval": 4,
        "switch_epoch": 1,
        "grad_threshold": 1e6,
        "grad_ratio": 1.0,
        "warmup_epochs": 1,
        "patience": 1,
        "min_delta": 10.0,
    },
}
IMAGES = {  # experiment -> (models, image shape, normalisation)
    "fashion_mnist": (["cnn", "mlp"], (28, 28), None),
    "cifar10": (["densenet_paper"], (3, 32, 32), {"mean": [0.5] * 3, "std": [0.5] * 3}),
}
TOY_CONFIG = {
    "starts": 2,
    "seed": 0,
    "budget": 60,
    "target_gap": 1e-8,
    "steps_per_epoch": 5,
    "sgd": {"lr": 1e-4},
    "adam": {"lr": 0.01},
    "lbfgs": LBFGS,
    "scipy": {"ftol": 0.0, "gtol": 0.0},
    "fuse_pv": {
        "lr": 0.01,
        "lbfgs_lr": 1.0,
        "history_size": 4,
        "max_iter": 20,
        "max_eval": 4,
        "switch_epoch": 2,
        "grad_threshold": 1e6,
        "grad_ratio": 1.0,
        "warmup_epochs": 1,
        "patience": 1,
        "min_delta": 10.0,
    },
}
TOY_VARIANTS = [Variant(name) for name in names("toy") if name != "fuse"]
TOY_VARIANTS += [Variant("fuse", {"theta": theta}) for theta in (0.0, 0.5)]


def image_log(experiment: str) -> pd.DataFrame:
    """Every model x optimizer of ``experiment`` for seed 0 on synthetic images (the test
    images as validation split for an optimizer that needs one)."""
    models, shape, normalize = IMAGES[experiment]
    splits = synthetic_splits(shape, normalize)
    validated = Splits(splits.train, splits.test, splits.test)
    frames = [
        train_run(
            model,
            optimizer,
            0,
            IMAGE_CONFIG,
            validated if REGISTRY[optimizer].needs_validation else splits,
        )
        for model in models
        for optimizer in names("image")
    ]
    return pd.concat(frames, ignore_index=True).drop(columns=UNTIMED)


def toy_log() -> pd.DataFrame:
    """Every toy variant on Rosenbrock 2-D, noise-free and noisy."""
    spec = {"name": "rosenbrock", "dim": 2}
    frames = [
        toy.cell_runs(spec, variant, noise, TOY_CONFIG)
        for variant in TOY_VARIANTS
        for noise in (0.0, 1.0)
        if variant.optimizer != "scipy" or noise == 0.0
    ]
    return pd.concat(frames, ignore_index=True).drop(columns=UNTIMED)


LOGS = {
    "fashion_mnist": lambda: image_log("fashion_mnist"),
    "cifar10": lambda: image_log("cifar10"),
    "toy": toy_log,
}


def fresh_log(name: str) -> str:
    """:func:`as_text` of the log ``name`` of :data:`LOGS`, computed in a new Python process
    with one thread (the same reduction order, whatever ran before in this one)."""
    program = (
        "import torch; torch.set_num_threads(1); "
        "from tests.test_golden import LOGS, as_text; "
        f"print(as_text(LOGS[{name!r}]()), end='')"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=GOLDEN.parents[1],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"the {name} golden runs failed:\n{done.stderr[-3000:]}"
    return done.stdout


def as_text(frame: pd.DataFrame) -> str:
    """The log as CSV with every float at full precision (round-trip repr)."""
    return frame.to_csv(index=False, float_format=lambda value: repr(float(value)))


def only_adds(path: Path, text: str) -> bool:
    """Whether the log ``text`` holds every value of the golden log at ``path``: a new
    optimizer only adds rows, a new logged quantity only adds columns; any golden value
    gone means changed numbers."""
    if not path.is_file():
        return True
    old = pd.read_csv(path, dtype=str, keep_default_na=False)
    new = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if not set(old.columns) <= set(new.columns):
        return False
    columns = list(old.columns)
    return set(old.itertuples(index=False)) <= set(new[columns].itertuples(index=False))


def recorded_version() -> int | None:
    return json.loads(MANIFEST.read_text())["numerics_version"] if MANIFEST.is_file() else None


def test_every_registered_optimizer_has_golden_settings():
    """A newly registered optimizer needs its settings here too (written out, like the
    others), so that its tiny runs join the golden logs."""
    for family, config in (("image", IMAGE_CONFIG), ("toy", TOY_CONFIG)):
        for name in names(family):
            missing = set(REGISTRY[name].settings) - set(config)
            assert not missing, (
                f"optimizer {name!r}: add its settings {sorted(missing)} to "
                f"{'IMAGE_CONFIG' if family == 'image' else 'TOY_CONFIG'} in {__file__}, "
                "then regenerate the golden logs"
            )


@pytest.mark.parametrize("name", list(LOGS))
def test_tiny_runs_log_exactly_the_golden_numbers(name):
    path = GOLDEN / f"{name}.csv"
    text = fresh_log(name)
    if UPDATE:
        if not only_adds(path, text) and recorded_version() == NUMERICS_VERSION:
            pytest.fail(
                f"{path.name}: the numbers changed but NUMERICS_VERSION is still "
                f"{NUMERICS_VERSION}: bump it in fuse_repro/core/runstore.py (every "
                "stored run becomes stale), then regenerate"
            )
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.is_file(), f"{path} is missing: run FUSE_UPDATE_GOLDEN=1 pytest {__file__}"
    expected = path.read_text().splitlines()
    actual = text.splitlines()
    differing = [
        f"line {i + 1}:\n  golden {e}\n  now    {a}"
        for i, (e, a) in enumerate(zip(expected, actual))
        if e != a
    ]
    assert len(actual) == len(expected), f"{name}: {len(actual)} lines, golden {len(expected)}"
    assert not differing, (
        f"{name}: numbers differ from the golden log ({len(differing)} "
        "lines; first ones below). If the change is intended, bump "
        "NUMERICS_VERSION and regenerate (see this module's docstring).\n"
        + "\n".join(differing[:5])
    )


def test_golden_logs_belong_to_this_numerics_version():
    if UPDATE:
        MANIFEST.write_text(
            json.dumps({"numerics_version": NUMERICS_VERSION, "torch": torch.__version__}, indent=2)
            + "\n"
        )
    assert recorded_version() == NUMERICS_VERSION, (
        f"tests/golden was made with numerics version {recorded_version()}, the code has "
        f"{NUMERICS_VERSION}: regenerate the golden logs (see tests/test_golden.py)"
    )
