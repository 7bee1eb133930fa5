"""Fixtures shared by the whole suite: the committed params.yaml, loaded once, and one
thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``)."""

import copy

import pytest
import torch

from fuse_repro.params import load, resolve
from tests.helpers import PARAMS


@pytest.fixture(scope="session")
def committed_params() -> dict:
    """params.yaml as committed, read and validated once; never mutate it (deep-copy it)."""
    return load(PARAMS)


@pytest.fixture(scope="session")
def resolved(committed_params):
    """``resolved(experiment, scale="quick")``: a fresh, deep-copied ``resolve`` of the
    committed params, which a test may shrink in place."""

    def resolved(experiment: str, scale: str = "quick") -> dict:
        return copy.deepcopy(resolve(committed_params, experiment, scale))

    return resolved


@pytest.fixture(scope="module")
def one_thread():
    """One thread: the same reduction order wherever the tests run, and quick even on a
    busy machine; the thread count is restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
