"""Smoke test of benchmarks/bench_fuse.py: it runs end to end with minimal repeats and
writes its JSON. It checks no timing: the benchmark's ratios are for humans to read."""

import json
import math

import pytest
import torch

from tests.helpers import load_benchmark

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_fuse_main_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = load_benchmark("bench_fuse").main(
        ["--repeats", "2", "--lbfgs-repeats", "1", "--threads", "1", "--sizes", "100"]
        + ["--out", str(out)]
    )

    assert json.loads(out.read_text(encoding="utf-8")) == results
    assert "| model | metric |" in capsys.readouterr().out
    rows = {(row["model"], row["metric"]): row for row in results["rows"]}
    for model in ("cnn", "mlp"):
        for metric in (
            "Adam step, foreach=True",
            "Adam step, foreach=None",
            "L-BFGS closure evals / iteration",
            "L-BFGS time / iteration",
            "L-BFGS time / closure eval",
        ):
            row = rows[(model, metric)]
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert (model, "L-BFGS overhead / iteration") in rows  # a noisy estimate
        assert rows[(model, "L-BFGS closure evals / iteration")]["fuse"] >= 1
    overhead = rows[("n=100", "L-BFGS overhead / iteration")]
    assert overhead["target"] == 0.5 and overhead["verdict"] in ("pass", "MISS")
    floor = rows[("n=100", "two passes over the history")]
    assert floor["fuse"] > 0 and floor["target"] is None  # context: a floor, no target
    kernels = rows[("n=100", "L-BFGS kernels / iteration")]
    assert kernels["fuse"] > 0 and kernels["torch"] > 0  # counted, not timed
    assert "direction alone" in kernels["note"]


def test_gpu_sync_check_says_when_there_is_no_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: run benchmarks/gpu_sync_check.py itself")
    assert load_benchmark("gpu_sync_check").main() == 2
    assert "CUDA is not available" in capsys.readouterr().err
