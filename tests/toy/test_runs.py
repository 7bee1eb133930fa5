"""The toy study's runs (fuse_repro.toy.runs): one run per optimizer, scipy's reference
run, the noise, divergence, and running the cells in processes. Tiny budgets, CPU."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import torch

from fuse_repro.core.runstore import stored_runs
from fuse_repro.core.variants import Variant
from fuse_repro.toy import runs as toy
from fuse_repro.toy import summary as toy_results
from fuse_repro.toy.functions import NoisyObjective, random_starts


def test_lbfgs_run_reaches_the_target_and_stops_there(settings, rosenbrock):
    start = rosenbrock.standard_start
    for variant in (Variant("lbfgs"), Variant("fuse", {"theta": 0.0})):
        run = toy.torch_run(rosenbrock, variant, start, 0.0, 0, dict(settings, budget=400))
        assert run["step"].tolist() == list(range(len(run)))
        assert run[["evals", "step"]].iloc[0].tolist() == [0, 0]
        assert (run["evals"].diff().iloc[1:] >= 1).all()
        assert run["gap"].iloc[-1] <= settings["target_gap"]
        assert (run["gap"].iloc[:-1] > settings["target_gap"]).all()
        assert run["distance"].iloc[-1] < 1e-3
        assert (run["wall_time"].diff().iloc[1:] >= 0).all()


def test_fuse_pv_is_adam_until_it_switches_then_lbfgs(settings, rosenbrock):
    """Before the switch FUSE-PV (epoch) takes exactly Adam's steps (same lr), so the two
    logs agree bit for bit; the switch comes after switch_epoch x steps_per_epoch steps."""
    start = random_starts(rosenbrock, 1, 0)[0]
    adam = toy.torch_run(rosenbrock, Variant("adam"), start, 1.0, 7, settings)
    fuse_pv = toy.torch_run(rosenbrock, Variant("fuse_pv_epoch"), start, 1.0, 7, settings)
    switch = settings["fuse_pv"]["switch_epoch"] * settings["steps_per_epoch"]
    assert set(fuse_pv["phase"].iloc[: switch + 1]) == {"adam"}
    assert set(fuse_pv["phase"].iloc[switch + 1 :]) == {"lbfgs"}
    columns = ["evals", "f", "x0", "x1"]
    pd.testing.assert_frame_equal(
        fuse_pv[columns].iloc[: switch + 1], adam[columns].iloc[: switch + 1]
    )
    assert not np.allclose(fuse_pv["x0"].iloc[switch + 2], adam["x0"].iloc[switch + 2])


def test_noise_is_the_same_for_every_optimizer_and_changes_the_run(settings, rosenbrock):
    start = random_starts(rosenbrock, 1, 3)[0]
    noisy = toy.torch_run(rosenbrock, Variant("sgd"), start, 1.0, 5, settings)
    again = toy.torch_run(rosenbrock, Variant("sgd"), start, 1.0, 5, settings)
    clean = toy.torch_run(rosenbrock, Variant("sgd"), start, 0.0, 5, settings)
    pd.testing.assert_frame_equal(noisy.drop(columns="wall_time"), again.drop(columns="wall_time"))
    assert not np.allclose(noisy["x0"], clean["x0"])
    # SGD's first step is x - lr (grad f + noise): the noise is that of NoisyObjective
    objective = NoisyObjective(rosenbrock, 1.0, 5)
    x = start.clone().requires_grad_(True)
    objective(x).backward()
    first = start - settings["sgd"]["lr"] * x.grad
    assert noisy[["x0", "x1"]].iloc[1].tolist() == pytest.approx(first.tolist(), rel=1e-12)


def test_a_diverging_run_stops_and_counts_as_an_infinite_gap(settings, rosenbrock):
    start = torch.tensor([2.0, -2.0], dtype=torch.float64)
    settings = dict(settings, sgd={"lr": 1.0})
    run = toy.torch_run(rosenbrock, Variant("sgd"), start, 0.0, 0, settings)
    assert len(run) < settings["budget"] + 1
    assert not np.isfinite(run["gap"].iloc[-1])
    summary = toy_results.run_summary(
        run.assign(function="r", variant="sgd", noise=0.0, start=0), settings
    )
    assert summary["final_gap"].iloc[0] == math.inf and not summary["success"].iloc[0]


def test_scipy_run_logs_scipys_iterates_and_evaluations(settings, rosenbrock):
    start = rosenbrock.standard_start
    full = dict(settings, target_gap=1e-30, budget=500)
    run = toy.scipy_run(rosenbrock, start, full)
    reference = scipy.optimize.minimize(
        lambda x: float(rosenbrock.f(torch.from_numpy(x))),
        start.numpy(),
        method="L-BFGS-B",
        jac=lambda x: torch.func.grad(rosenbrock.f)(torch.from_numpy(x)).numpy(),
        options=dict(maxcor=10, maxfun=500, maxiter=500, ftol=0.0, gtol=0.0),
    )
    assert run["x0"].iloc[-1] == pytest.approx(reference.x[0], abs=1e-12)
    assert run["evals"].iloc[-1] <= reference.nfev
    stopped = toy.scipy_run(rosenbrock, start, settings)
    assert stopped["gap"].iloc[-1] <= settings["target_gap"] < stopped["gap"].iloc[-2]
    assert len(stopped) < len(run)


def test_processes_change_nothing_but_wall_times(settings, tmp_path):
    settings = dict(settings, budget=30)
    serial = toy.run_cells(dict(settings, workers=1), tmp_path / "serial")
    parallel = toy.run_cells(dict(settings, workers=2), tmp_path / "parallel")
    timed = ["wall_time", "final_time", "time_to_target"]
    pd.testing.assert_frame_equal(serial.drop(columns=timed), parallel.drop(columns=timed))
    assert sorted(p.name for p in (tmp_path / "serial").iterdir()) == sorted(
        p.name for p in (tmp_path / "parallel").iterdir()
    )


def test_a_cells_record_gives_what_its_per_step_log_gives(settings, tmp_path):
    """The stored record (read back from its file) yields the same run summaries, gap
    quantiles and path as the cell's full per-step log, which is not stored."""
    cell = toy.Cell({"name": "rosenbrock", "dim": 2}, Variant("fuse_pv_epoch"), 1.0)
    log = toy.cell_runs(cell.spec, cell.variant, cell.noise, settings)
    ((_, stored, _),) = stored_runs(
        tmp_path, {"cell.csv.gz": lambda: toy_results.cell_record(log, settings)}
    )
    ((_, record, kept),) = stored_runs(tmp_path, {"cell.csv.gz": None})
    assert kept and toy.check_cell(cell, record, settings) is None
    pd.testing.assert_frame_equal(
        toy_results.record_part(record, "run"), toy_results.run_summary(log, settings)
    )
    pd.testing.assert_frame_equal(
        toy_results.record_part(record, "curve"),
        toy_results.gap_quantiles(log, settings["budget"]),
    )
    path = log[log["start"] == toy_results.PATH_START].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        toy_results.record_part(record, "path"),
        path[toy_results.RUN_KEYS + toy_results.PATH_COLUMNS],
        check_dtype=False,
    )
    assert "path's steps" in toy.check_cell(cell, record[record["part"] != "path"], settings)
