"""The toy stage's code end to end (fuse_repro.toy: runs, summaries, figures and the
report section), and its rerun. Tiny budgets, CPU."""

import json

import pandas as pd

from fuse_repro.core.paths import metrics_path, results_dir
from fuse_repro.report import Figure
from fuse_repro.toy import grid as toy_grid
from fuse_repro.toy import plots as toy_plots
from fuse_repro.toy import report as toy_report
from fuse_repro.toy import runs as toy
from fuse_repro.toy import summary as toy_results
from fuse_repro.toy.functions import get


def test_stage_code_end_to_end_and_resume(settings, tmp_path, monkeypatch):
    """run_cells -> write_outputs -> figures -> report section, then a rerun that reads
    every cell back instead of running it."""
    runs = tmp_path / "runs"
    log = toy.run_cells(settings, runs)
    assert list(log.columns) == toy_results.RECORD_COLUMNS
    assert len(list(runs.iterdir())) == len({c.file_name(settings) for c in toy.grid(settings)})
    out = results_dir(tmp_path, settings["scale"], "toy")
    cells = toy.cell_keys(settings)
    metrics_file = metrics_path(tmp_path, settings["scale"], "toy")
    tables = toy_results.write_summaries(log, settings, out, metrics_file, cells)
    metrics = json.loads(metrics_file.read_text())
    assert "rosenbrock_2d" in metrics and "noise=1" in metrics["rosenbrock_2d"]
    seconds = log.loc[log["part"] == "run", "final_time"].sum()  # one row per start
    assert metrics["runs"] == {
        "stored": len(cells),
        "grid": len(cells),
        "training_seconds": round(seconds, 1),
    }
    comparison = tables["comparison"]
    scipy_row = comparison[
        (comparison["variant"] == "scipy") & (comparison["function"] == "rosenbrock_2d")
    ].iloc[0]
    assert scipy_row["success_rate"] == 1.0 and scipy_row["reached_target"] == 1.0
    assert set(tables["ablation"]["setting"]) == set(settings["ablation"]["sweeps"])

    two_d = {toy_grid.function_key(s): get(s["name"], s["dim"]) for s in settings["functions"]}
    figures = [
        toy_plots.contour_paths(
            toy_results.record_part(log, "path"),
            two_d,
            ["adam", "fuse_pv_epoch", "scipy"],
            0.0,
            0,
            tmp_path / "fig" / "paths.png",
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
    items = toy_report.section(settings, tmp_path)
    text = "\n\n".join(item for item in items if isinstance(item, str))
    assert [item.path.name for item in items if isinstance(item, Figure)] == []  # none there
    (out / "figures").mkdir()
    for figure in figures:
        figure.rename(out / "figures" / figure.name)
    captions = [i.caption for i in toy_report.section(settings, tmp_path) if isinstance(i, Figure)]
    text += "\n".join(captions)
    assert "Toy ablation" in text and "scipy L-BFGS-B (noise-free)" in text
    assert "decided by the paired sign tests in the claims table" in text
    assert "gradient noise 1" in text and "Ablation heat maps on rosenbrock_2d" in text

    def no_runs(*args, **kwargs):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(toy, "cell_result", no_runs)
    again = toy.run_cells(settings, runs)
    pd.testing.assert_frame_equal(again, log)


def test_no_cell_stored_leaves_only_the_metrics_and_a_report_that_says_so(settings, tmp_path):
    settings = dict(settings, missing_runs="report")
    log = toy.run_cells(settings, tmp_path / "nothing")
    out = results_dir(tmp_path, settings["scale"], "toy")
    (out / "figures").mkdir(parents=True)
    (out / "summary.csv").write_text("stale")
    metrics_file = metrics_path(tmp_path, settings["scale"], "toy")
    grid = toy.cell_keys(settings)
    assert toy_results.write_summaries(log, settings, out, metrics_file, grid) == {}
    assert json.loads(metrics_file.read_text()) == {
        "runs": {"stored": 0, "grid": len(grid), "training_seconds": 0.0}
    }
    assert list(out.iterdir()) == [out / "grid.csv"]
    text = "\n".join(i for i in toy_report.section(settings, tmp_path) if isinstance(i, str))
    assert "Not yet run" in text and "python -m fuse_repro.train toy --scale quick" in text


def test_finite_sum_study_chooses_its_settings_on_separate_starts(settings, tmp_path):
    """The finite-sum study end to end: its cells carry the noise model in their keys (the
    tilt's keys do not change when the model is written out), the ablation runs on the
    reported starts and on the selection starts (n..2n-1, stored under their own names),
    and the report states the value chosen on the selection starts and its result on the
    reported ones."""
    tilt = {cell.file_name(settings) for cell in toy.grid(settings)}
    assert tilt == {
        cell.file_name(dict(settings, noise_model="tilt")) for cell in toy.grid(settings)
    }
    settings = dict(
        settings,
        experiment="toy_finite_sum",
        noise_model={"terms": 8, "batch": 2, "cycles": 1.0},
        noise_scales=[0.1],
        budget=60,
        optimizers=["adam", "fuse_pv_epoch", "fuse_pv_gradient", "fuse_pv_loss"],
    )
    settings["ablation"] = dict(
        settings["ablation"],
        noise_scales=[0.1],
        selection_starts=True,
        sweeps={
            "switch_epoch": [0, 4],
            "theta": [0.5],
            "grad_threshold": [],
            "min_delta": [],
            "history_size": [],
        },
    )
    names = {cell.file_name(settings) for cell in toy.grid(settings)}
    assert not names & tilt
    assert sum("@selection" in name for name in names) == 3
    log = toy.run_cells(settings, tmp_path / "runs")
    runs = toy_results.record_part(log, "run")
    chosen = runs[runs["variant"].str.endswith("@selection")]
    assert set(chosen["start"]) == {2, 3} and set(runs["start"]) == {0, 1, 2, 3}
    out = results_dir(tmp_path, settings["scale"], "toy_finite_sum")
    metrics_file = metrics_path(tmp_path, settings["scale"], "toy_finite_sum")
    tables = toy_results.write_summaries(log, settings, out, metrics_file, toy.cell_keys(settings))
    ablation = tables["ablation"]
    assert sorted(ablation.groupby("starts").size().items()) == [("reported", 3), ("selection", 3)]
    assert "@selection" not in "".join(tables["comparison"]["variant"])
    text = "\n".join(i for i in toy_report.section(settings, tmp_path) if isinstance(i, str))
    assert "Toy ablation on finite sums" in text and "Finite sums: f is the mean of 8" in text
    assert text.count("chosen on the selection starts") == 2  # switch_epoch and theta
    assert "Noise-free" not in text  # no noise-free cells in this study


def test_ablation_findings_on_a_partial_grid_say_what_is_missing():
    """The paper scale stores cells as they come: a chosen value not yet run on the
    reported starts is named as such, and a noise scale without reported cells gives the
    choice alone."""

    def cell(value, starts, success, noise=0.1):
        return {
            "function": "rosenbrock_2d",
            "setting": "theta",
            "noise": noise,
            "starts": starts,
            "value": value,
            "success_rate": success,
            "median_final_gap": 1.0 - success,
            "median_evals_to_target": float("nan"),
        }

    ablation = pd.DataFrame(
        [
            cell(0.5, "selection", 0.9),
            cell(1.0, "selection", 0.2),
            cell(1.0, "reported", 0.3),
            cell(0.5, "selection", 0.1, noise=1.0),
        ]
    )
    (line,) = toy_report.ablation_findings(ablation, 1e-8)
    assert (
        "σ = 0.1: chosen on the selection starts 0.5 (not yet run on the reported starts)" in line
    )
    assert "best 1 (30% success" in line
    assert line.endswith(
        "σ = 1: chosen on the selection starts 0.5 (not yet run on the reported starts)."
    )
