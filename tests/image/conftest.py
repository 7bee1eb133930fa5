"""Fixtures of the image family's tests: shrunk settings of both datasets, synthetic
learnable splits for them, and one small grid of runs (trained once per session)."""

import pytest

from fuse_repro.core.optimizers import REGISTRY, names
from fuse_repro.image.runs import run_grid
from tests.helpers import row_band_images, synthetic_splits, to_splits


@pytest.fixture(scope="session")
def fashion_config(resolved):
    """The fashion_mnist quick block, shrunk: one MLP, two seeds, three epochs, every
    image optimizer of the registry that needs no validation split."""
    config = resolved("fashion_mnist")
    config.update(epochs=3, batch_size=64, seeds=[0, 1], models=["mlp"])
    config["optimizers"] = [n for n in names("image") if not REGISTRY[n].needs_validation]
    config["adam_sgd"]["switch_epoch"] = 2
    config["fuse_pv"].update(switch_epoch=1, warmup_epochs=1)
    config["fuse_pv_official"].update(adam_epochs=1)
    return config


@pytest.fixture(scope="session")
def fashion_splits():
    """384 training and 64 test images of 28 x 28."""
    return synthetic_splits((28, 28), n_train=384, n_test=64)


@pytest.fixture(scope="session")
def grid_log(fashion_config, fashion_splits, tmp_path_factory):
    """``(log, runs folder)`` of every optimizer x seed of ``fashion_config``. Shared:
    tests that change the runs folder work on a copy."""
    runs = tmp_path_factory.mktemp("runs")
    return run_grid(fashion_config, fashion_splits, runs, data_id="toy"), runs


@pytest.fixture(scope="session")
def cifar_config(resolved):
    """The cifar10 quick block, shrunk to three epochs of one seed on all given images."""
    config = resolved("cifar10")
    config.update(epochs=3, batch_size=32, seeds=[0], train_size=None, test_size=None)
    config["adam_sgd"]["switch_epoch"] = 1
    config["fuse_pv"].update(switch_epoch=1, warmup_epochs=1, patience=1, min_delta=0.5)
    return config


@pytest.fixture(scope="session")
def cifar_splits(cifar_config):
    """128 training and 32 test images of 3 x 32 x 32, normalised as the settings say."""
    return to_splits(*row_band_images(160, (3, 32, 32)), 128, cifar_config["normalize"])
