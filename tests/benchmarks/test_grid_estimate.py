"""The paper grid's GPU estimate (benchmarks/grid_estimate.py), on synthetic images: what
it measures per phase, and how it adds up."""

import json

import pytest
import torch

from tests.helpers import load_benchmark, row_band_images

estimate = load_benchmark("grid_estimate")


def test_the_estimate_adds_up_from_what_it_measures(tmp_path, monkeypatch):
    x, y = row_band_images(600, (3, 32, 32))
    monkeypatch.setattr(estimate, "load_prepared", lambda root, name: {"train_x": x, "train_y": y})
    out = tmp_path / "cifar10.json"
    threads = torch.get_num_threads()
    try:
        estimate.main(
            ["--steps", "2", "--count-steps", "1", "--workers", "1", "4", "--out", str(out)]
        )
    finally:
        torch.set_num_threads(threads)  # the script runs on one thread
    result = json.loads(out.read_text())
    assert result["grid_runs"] == 32 and result["steps_per_epoch"] == 97
    for phase in ("sgd", "adam", "lbfgs", "fuse_lbfgs"):
        cost = result["host_cost_per_phase"][phase]
        assert cost["dispatch_seconds_per_eval"] >= 0 and cost["operations_per_eval"] > 20
        assert 1 <= cost["evals_per_step"] <= 1 + 20  # max_iter bounds an L-BFGS step
    assert result["host_cost_per_phase"]["sgd"]["evals_per_step"] == 1
    assert result["flops_per_eval"] > 1e9  # a forward+backward of 512 images, 4,682 weights
    for workers, minutes in result["estimated_minutes"].items():
        expected = max(result["host_seconds"] / int(workers), result["device_seconds"]) / 60
        assert minutes == pytest.approx(expected)
