"""Smoke test of benchmarks/bench_fuse.py: it runs end to end with minimal repeats and
writes its JSON. It checks no timing: the benchmark's ratios are for humans to read."""

import importlib.util
import json
import math
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fuse.py"


def load_bench():
    """benchmarks/ is not a package: import the script from its path."""
    spec = importlib.util.spec_from_file_location("bench_fuse", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_fuse_main_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:  # one thread: quick even on a busy CI machine; restored for the other tests
        results = load_bench().main(["--repeats", "2", "--lbfgs-repeats", "1",
                                     "--threads", "1", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)

    assert json.loads(out.read_text(encoding="utf-8")) == results
    assert "| model | metric |" in capsys.readouterr().out
    rows = {(row["model"], row["metric"]): row for row in results["rows"]}
    for model in ("cnn", "mlp"):
        for metric in ("Adam step, foreach=True", "Adam step, foreach=None",
                       "L-BFGS closure evals / iteration", "L-BFGS time / iteration",
                       "L-BFGS time / closure eval"):
            row = rows[(model, metric)]
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert (model, "L-BFGS overhead / iteration") in rows  # a noisy estimate
        assert rows[(model, "L-BFGS closure evals / iteration")]["fuse"] >= 1
