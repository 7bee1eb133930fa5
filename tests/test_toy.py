"""The toy ablation's code: variants, one run per optimizer, scipy's reference run, the
grid and its resume, the summaries, the rule verdict, figures and the report section.
Tiny budgets, CPU."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import torch

from fuse_repro.core.optimizers import FUSE_PV_RULES
from fuse_repro.params import load, resolve
from fuse_repro.report import Figure
from fuse_repro.toy import grid as toy_grid
from fuse_repro.toy import plots as toy_plots
from fuse_repro.toy import report as toy_report
from fuse_repro.toy import runs as toy
from fuse_repro.toy import summary as toy_results
from fuse_repro.toy.functions import NoisyObjective, get, random_starts
from fuse_repro.toy.grid import Variant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    """The quick block of params.yaml, shrunk: two functions, two starts, 120 evaluations."""
    config = resolve(load(ROOT / "params.yaml"), "toy")
    config.update(
        functions=[{"name": "rosenbrock", "dim": 2}, {"name": "rastrigin", "dim": 2}],
        starts=2,
        budget=120,
        noise_scales=[0.0, 1.0],
        steps_per_epoch=5,
    )
    config["fuse"] = {"thetas": [0.0, 0.5]}
    config["fuse_pv"] = dict(config["fuse_pv"], switch_epoch=4, warmup_epochs=1)
    config["ablation"] = {
        "functions": [{"name": "rosenbrock", "dim": 2}],
        "noise_scales": [0.0, 1.0],
        "sweeps": {
            "switch_epoch": [0, 4],
            "theta": [0.5, 1.0],
            "grad_threshold": [0.5],
            "min_delta": [0.01],
            "history_size": [3],
        },
    }
    return config


@pytest.fixture
def rosenbrock():
    return get("rosenbrock", 2)


# ------------------------------------------------------------------ variants, grid
def test_variant_key_and_settings_override_their_block(config):
    variant = Variant("fuse_pv_epoch", {"switch_epoch": 2})
    assert variant.key == "fuse_pv_epoch-switch_epoch=2"
    changed = variant.config(config)
    assert changed["fuse_pv"]["switch_epoch"] == 2
    assert changed["fuse_pv"]["lr"] == config["fuse_pv"]["lr"]
    assert config["fuse_pv"]["switch_epoch"] == 4  # the base config is untouched
    fuse = Variant("fuse", {"theta": 0.25})
    assert fuse.arguments == {"theta": 0.25} and fuse.config(config) == config


def test_grid_runs_scipy_noise_free_only_and_expands_theta_and_sweeps(config):
    cells = toy.grid(config)
    keys = {(toy_grid.function_key(c.spec), c.variant.key, c.noise) for c in cells}
    assert ("rosenbrock_2d", "scipy", 0.0) in keys and ("rosenbrock_2d", "scipy", 1.0) not in keys
    assert {
        ("rastrigin_2d", "fuse-theta=0", 1.0),
        ("rastrigin_2d", "fuse-theta=0.5", 0.0),
        ("rosenbrock_2d", "fuse_pv_epoch-switch_epoch=0", 1.0),
        ("rosenbrock_2d", "fuse_pv_epoch-history_size=3", 0.0),
    } <= keys
    assert ("rastrigin_2d", "fuse_pv_epoch-switch_epoch=0", 0.0) not in keys  # not ablated
    names = {c.file_name(config) for c in cells}
    assert len(names) == len(keys)  # a cell in both parts has one file


# ------------------------------------------------------------------ single runs
def test_lbfgs_run_reaches_the_target_and_stops_there(config, rosenbrock):
    start = rosenbrock.standard_start
    for variant in (Variant("lbfgs"), Variant("fuse", {"theta": 0.0})):
        run = toy.torch_run(rosenbrock, variant, start, 0.0, 0, dict(config, budget=400))
        assert run["step"].tolist() == list(range(len(run)))
        assert run[["evals", "step"]].iloc[0].tolist() == [0, 0]
        assert (run["evals"].diff().iloc[1:] >= 1).all()
        assert run["gap"].iloc[-1] <= config["target_gap"]
        assert (run["gap"].iloc[:-1] > config["target_gap"]).all()
        assert run["distance"].iloc[-1] < 1e-3
        assert (run["wall_time"].diff().iloc[1:] >= 0).all()


def test_fuse_pv_is_adam_until_it_switches_then_lbfgs(config, rosenbrock):
    """Before the switch FUSE-PV (epoch) takes exactly Adam's steps (same lr), so the two
    logs agree bit for bit; the switch comes after switch_epoch x steps_per_epoch steps."""
    start = random_starts(rosenbrock, 1, 0)[0]
    adam = toy.torch_run(rosenbrock, Variant("adam"), start, 1.0, 7, config)
    fuse_pv = toy.torch_run(rosenbrock, Variant("fuse_pv_epoch"), start, 1.0, 7, config)
    switch = config["fuse_pv"]["switch_epoch"] * config["steps_per_epoch"]
    assert set(fuse_pv["phase"].iloc[: switch + 1]) == {"adam"}
    assert set(fuse_pv["phase"].iloc[switch + 1 :]) == {"lbfgs"}
    columns = ["evals", "f", "x0", "x1"]
    pd.testing.assert_frame_equal(
        fuse_pv[columns].iloc[: switch + 1], adam[columns].iloc[: switch + 1]
    )
    assert not np.allclose(fuse_pv["x0"].iloc[switch + 2], adam["x0"].iloc[switch + 2])


def test_noise_is_the_same_for_every_optimizer_and_changes_the_run(config, rosenbrock):
    start = random_starts(rosenbrock, 1, 3)[0]
    noisy = toy.torch_run(rosenbrock, Variant("sgd"), start, 1.0, 5, config)
    again = toy.torch_run(rosenbrock, Variant("sgd"), start, 1.0, 5, config)
    clean = toy.torch_run(rosenbrock, Variant("sgd"), start, 0.0, 5, config)
    pd.testing.assert_frame_equal(noisy.drop(columns="wall_time"), again.drop(columns="wall_time"))
    assert not np.allclose(noisy["x0"], clean["x0"])
    # SGD's first step is x - lr (grad f + noise): the noise is that of NoisyObjective
    objective = NoisyObjective(rosenbrock, 1.0, 5)
    x = start.clone().requires_grad_(True)
    objective(x).backward()
    first = start - config["sgd"]["lr"] * x.grad
    assert noisy[["x0", "x1"]].iloc[1].tolist() == pytest.approx(first.tolist(), rel=1e-12)


def test_a_diverging_run_stops_and_counts_as_an_infinite_gap(config, rosenbrock):
    start = torch.tensor([2.0, -2.0], dtype=torch.float64)
    config = dict(config, sgd={"lr": 1.0})
    run = toy.torch_run(rosenbrock, Variant("sgd"), start, 0.0, 0, config)
    assert len(run) < config["budget"] + 1
    assert not np.isfinite(run["gap"].iloc[-1])
    summary = toy_results.run_summary(
        run.assign(function="r", variant="sgd", noise=0.0, start=0), config
    )
    assert summary["final_gap"].iloc[0] == math.inf and not summary["success"].iloc[0]


def test_scipy_run_logs_scipys_iterates_and_evaluations(config, rosenbrock):
    start = rosenbrock.standard_start
    full = dict(config, target_gap=1e-30, budget=500)
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
    stopped = toy.scipy_run(rosenbrock, start, config)
    assert stopped["gap"].iloc[-1] <= config["target_gap"] < stopped["gap"].iloc[-2]
    assert len(stopped) < len(run)


# ------------------------------------------------------------------ summaries
def _log(rows, variant="fuse_pv_epoch", start=0):
    """A hand-made run: (evals, gap, distance, phase) per step; FUSE-PV's ``switch_step``
    counter as the optimizer logs it (the step after which the phase changed, from the
    first row in the new phase on)."""
    frame = pd.DataFrame(rows, columns=["evals", "gap", "distance", "phase"])
    changed = (frame["phase"] != frame["phase"].iloc[0]).to_numpy()
    first = int(changed.argmax()) if changed.any() else None
    switch_step = [np.nan if first is None or i < first else first - 1 for i in range(len(frame))]
    return frame.assign(
        switch_step=switch_step,
        function="f",
        variant=variant,
        noise=0.0,
        start=start,
        step=range(len(frame)),
        wall_time=frame["evals"] / 100.0,
    )


def test_run_summary_reads_budget_target_success_and_switch(config):
    config = dict(config, budget=10, target_gap=1e-8, success_tol=0.25)
    log = pd.concat(
        [
            _log(
                [
                    (0, 5.0, 2.0, "adam"),
                    (1, 1.0, 1.0, "adam"),
                    (2, 0.5, 0.5, "adam"),
                    (6, 1e-9, 0.1, "lbfgs"),
                    (12, 1e-12, 0.01, "lbfgs"),
                ]
            ),
            _log(
                [
                    (0, 5.0, 2.0, "adam"),
                    (5, 3.0, 1.0, "adam"),
                    (10, 0.2, 0.2, "adam"),
                    (15, 0.0, 0.0, "adam"),
                ],
                variant="adam",
            ),
        ]
    )
    summary = toy_results.run_summary(log, config).set_index("variant")
    pv, adam = summary.loc["fuse_pv_epoch"], summary.loc["adam"]
    assert pv["final_gap"] == 1e-9 and pv["success"] and pv["final_evals"] == 6
    assert pv["evals_to_target"] == 6 and pv["time_to_target"] == 0.06
    assert pv["switch_evals"] == 2
    assert adam["final_gap"] == 0.2 and adam["success"] and adam["final_evals"] == 10
    assert math.isnan(adam["evals_to_target"])  # reached only after the budget
    assert math.isnan(adam["switch_evals"])


def test_median_to_target_counts_unreached_runs_as_never(config):
    rows = [
        _log([(0, 1.0, 1.0, "adam"), (e, 0.0, 0.0, "adam")], "adam", start=i)
        for i, e in enumerate((3, 5))
    ]
    rows += [_log([(0, 1.0, 1.0, "adam"), (50, 1.0, 1.0, "adam")], "adam", start=i) for i in (2, 3)]
    cells = toy_results.cell_summary(toy_results.run_summary(pd.concat(rows), config))
    assert cells["reached_target"].iloc[0] == 0.5
    assert math.isnan(cells["median_evals_to_target"].iloc[0])  # 2 of 4: the median is never
    rows.append(_log([(0, 1.0, 1.0, "adam"), (9, 0.0, 0.0, "adam")], "adam", start=4))
    cells = toy_results.cell_summary(toy_results.run_summary(pd.concat(rows), config))
    assert cells["median_evals_to_target"].iloc[0] == 9  # 3, 5, 9, never, never


def test_gap_quantiles_are_step_functions_of_evaluations():
    log = pd.concat(
        [
            _log([(0, 8.0, 1, "adam"), (4, 2.0, 1, "adam"), (8, 1.0, 1, "adam")]),
            _log([(0, 4.0, 1, "adam"), (2, np.nan, 1, "adam")], start=1),
        ]
    )
    curves = toy_results.gap_quantiles(log, budget=8, points=9).set_index("evals")
    assert curves["q25"].tolist()[:2] == [4.0, 4.0]  # the lower of 4 and 8
    assert curves["median"].tolist()[:2] == [6.0, 6.0]
    assert curves.loc[4, "median"] == math.inf  # 2.0 and a run that left the finite numbers
    assert curves.loc[4, "q25"] == 2.0 and curves.loc[4, "q75"] == math.inf  # never NaN
    single = toy_results.gap_quantiles(log[log["start"] == 0], budget=8, points=9)
    assert single["median"].tolist() == [8.0] * 4 + [2.0] * 4 + [1.0]


def _cells(rows):
    return pd.DataFrame(
        rows,
        columns=[
            "function",
            "noise",
            "variant",
            "success_rate",
            "median_final_gap",
            "median_evals_to_target",
        ],
    )


def test_ranking_prefers_success_then_gap_then_evaluations():
    cells = _cells(
        [
            ("f", 0.0, "a", 0.5, 1e-3, np.nan),
            ("f", 0.0, "b", 1.0, 1e-2, np.nan),
            ("f", 0.0, "c", 1.0, 1e-12, 90.0),
            ("f", 0.0, "d", 1.0, 1e-10, 40.0),
        ]
    )
    assert toy_results.ranked(cells, 1e-8)["variant"].tolist() == ["d", "c", "b", "a"]


def test_rule_verdict_counts_wins_and_ties():
    rows = []
    for function, gaps in (
        ("f1", (1e-3, 1e-1, 1e-1)),
        ("f2", (1e-2, 1e-4, 1e-1)),
        ("f3", (1e-3, 1e-3, 1e-3)),
    ):
        rows += [(function, 0.0, rule, 1.0, gap, np.nan) for rule, gap in zip(FUSE_PV_RULES, gaps)]
    ranking = toy_results.rule_ranking(_cells(rows), 1e-8)
    assert ranking["winner"].tolist()[:2] == ["fuse_pv_epoch", "fuse_pv_gradient"]
    assert ranking["tied"].tolist() == [False, False, True]
    verdict = toy_results.rule_verdict(ranking)
    assert "FUSE-PV (epoch) 1, FUSE-PV (gradient) 1, FUSE-PV (loss) 0" in verdict
    assert "inconclusive" in verdict
    epoch_wins = toy_results.rule_verdict(ranking.assign(winner="fuse_pv_epoch"))
    assert epoch_wins.endswith("this agrees.")
    loss_wins = toy_results.rule_verdict(ranking.assign(winner="fuse_pv_loss"))
    assert loss_wins.endswith("this disagrees.")


# ------------------------------------------------------------------ the stage's code
def test_stage_code_end_to_end_and_resume(config, tmp_path, monkeypatch):
    """run_cells -> write_outputs -> figures -> report section, then a rerun that reads
    every cell back instead of running it."""
    runs = tmp_path / "runs"
    log = toy.run_cells(config, runs)
    assert set(log.columns) == set(toy.LOG_COLUMNS)
    assert len(list(runs.iterdir())) == len({c.file_name(config) for c in toy.grid(config)})
    tables = toy_results.write_summaries(log, config, tmp_path / "out", tmp_path / "metrics.json")
    metrics = (tmp_path / "metrics.json").read_text()
    assert '"rosenbrock_2d"' in metrics and '"noise=1"' in metrics
    comparison = tables["comparison"]
    scipy_row = comparison[
        (comparison["variant"] == "scipy") & (comparison["function"] == "rosenbrock_2d")
    ].iloc[0]
    assert scipy_row["success_rate"] == 1.0 and scipy_row["reached_target"] == 1.0
    assert set(tables["ablation"]["setting"]) == set(config["ablation"]["sweeps"])

    two_d = {toy_grid.function_key(s): get(s["name"], s["dim"]) for s in config["functions"]}
    figures = [
        toy_plots.contour_paths(
            log, two_d, ["adam", "fuse_pv_epoch", "scipy"], 0.0, 0, tmp_path / "fig" / "paths.png"
        ),
        toy_plots.plot_gap_curves(tables["curves"], 1.0, tmp_path / "fig" / "gap.png"),
        toy_plots.ablation_heatmaps(
            tables["ablation"], "rosenbrock_2d", tmp_path / "fig" / "ablation.png"
        ),
    ]
    assert all(p.stat().st_size > 10_000 for p in figures)
    figures = [
        p.rename(p.with_name(name))
        for p, name in zip(
            figures, ("paths_noise0.png", "gap_noise1.png", "ablation_rosenbrock_2d.png")
        )
    ]
    items = toy_report.section(config, tmp_path / "out")
    text = "\n\n".join(item for item in items if isinstance(item, str))
    assert [item.path.name for item in items if isinstance(item, Figure)] == []  # none there
    (tmp_path / "out" / "figures").mkdir()
    for figure in figures:
        figure.rename(tmp_path / "out" / "figures" / figure.name)
    captions = [
        i.caption for i in toy_report.section(config, tmp_path / "out") if isinstance(i, Figure)
    ]
    text += "\n".join(captions)
    assert "Toy ablation" in text and "scipy L-BFGS-B (noise-free)" in text
    assert "Against the paper's statement that the epoch rule" in text
    assert "gradient noise 1" in text and "Ablation heat maps on rosenbrock_2d" in text

    def no_runs(*args, **kwargs):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(toy, "cell_runs", no_runs)
    again = toy.run_cells(config, runs)
    pd.testing.assert_frame_equal(again, log)


def test_processes_change_nothing_but_wall_times(config, tmp_path):
    config = dict(config, budget=30)
    serial = toy.run_cells(dict(config, workers=1), tmp_path / "serial")
    parallel = toy.run_cells(dict(config, workers=2), tmp_path / "parallel")
    pd.testing.assert_frame_equal(
        serial.drop(columns="wall_time"), parallel.drop(columns="wall_time")
    )
    assert sorted(p.name for p in (tmp_path / "serial").iterdir()) == sorted(
        p.name for p in (tmp_path / "parallel").iterdir()
    )
