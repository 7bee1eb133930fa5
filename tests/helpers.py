"""Plain helpers that several test modules import (fixtures are in the conftest.py files):
the repository's paths, the synthetic learnable images, and loading a benchmark script."""

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import torch

from fuse_repro.image.runs import Split, Splits

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
MIRROR = Path(os.environ.get("FUSE_DATA_MIRROR", ROOT.parent / "shared" / "datasets"))
CPU = torch.device("cpu")


def random_images(n: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """``n`` seeded random uint8 images of ``shape``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen)


def band_images(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`random_images` labelled by the brightest of ten bands of their first 780
    values (a learnable task)."""
    x = random_images(n, shape, seed)
    return x, x.float().reshape(n, -1)[:, :780].reshape(n, 10, 78).mean(-1).argmax(1)


def row_band_images(
    n: int, shape: tuple[int, int, int], seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`random_images` of ``shape`` (C, H, W) labelled by the brightest of ten
    horizontal bands of two rows (averaged over the channels). The resume and torchrun
    tests were calibrated on these: with :func:`band_images`, L-BFGS in two processes
    drifts from one process by more than their tolerance."""
    x = random_images(n, shape, seed)
    return x, x.float().mean(1)[:, :20].reshape(n, 10, -1).mean(-1).argmax(1)


def to_splits(
    x: torch.Tensor, y: torch.Tensor, n_train: int, normalize: dict | None = None
) -> Splits:
    """The first ``n_train`` images as the training split, the rest as the test split (no
    validation split)."""
    return Splits(
        Split.from_uint8(x[:n_train], y[:n_train], CPU, normalize=normalize),
        None,
        Split.from_uint8(x[n_train:], y[n_train:], CPU, normalize=normalize),
    )


def synthetic_splits(
    shape: tuple[int, ...],
    normalize: dict | None = None,
    *,
    n_train: int = 64,
    n_test: int = 32,
    seed: int = 0,
) -> Splits:
    """Train and test splits of :func:`band_images` on the CPU (the defaults are those the
    golden logs were made with)."""
    return to_splits(*band_images(n_train + n_test, shape, seed), n_train, normalize)


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` from its path (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
