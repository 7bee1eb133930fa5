"""The pinn stage's code end to end (runs, summaries, figures, report section). Tiny
settings, CPU."""

import json

from fuse_repro.core.paths import metrics_path, results_dir
from fuse_repro.pinn import plots, report
from fuse_repro.pinn import runs as pinn
from fuse_repro.pinn.summary import write_summaries
from fuse_repro.report import Figure


def test_stage_code_end_to_end(settings, tmp_path):
    settings.update(problems=["convection", "helmholtz"], optimizers=["adam", "fuse_pv_loss"])
    out = results_dir(tmp_path, settings["scale"], "pinn")
    log = pinn.run_grid(settings, out / "runs")
    runs = [(p, v.key, s) for p, v, s in pinn.grid(settings)]
    tables = write_summaries(
        log, settings, out, metrics_path(tmp_path, settings["scale"], "pinn"), runs
    )
    metrics = json.loads(metrics_path(tmp_path, settings["scale"], "pinn").read_text())
    seconds = log.groupby(["problem", "variant", "seed"])["wall_time"].max().sum()
    assert metrics["runs"] == {
        "stored": len(runs),
        "grid": len(runs),
        "training_seconds": round(seconds, 1),
    }
    assert set(metrics["helmholtz"]) == {v.key for v in pinn.variants(settings)}
    assert set(tables["questions"]["problem"]) == {"convection", "helmholtz"}
    for x, name in (("evals", "error_evals.png"), ("wall_time", "error_time.png")):
        curves = tables["curves_evals" if x == "evals" else "curves_time"]
        path = plots.error_curves(curves, tables["runs"], x, 10, out / "figures" / name)
        assert path.stat().st_size > 10_000
    path = plots.switch_points(tables["runs"], 10, out / "figures" / "switch_points.png")
    assert path.stat().st_size > 10_000
    items = report.section(settings, tmp_path)
    assert items[0] == f"## {report.HEADING}"
    text = "\n".join(i for i in items if isinstance(i, str))
    assert "Adam→L-BFGS at step 20" in text and "Helmholtz" in text
    assert sum(isinstance(i, Figure) for i in items) == 3


def test_a_grid_not_yet_run_says_how_to_run_it(settings, tmp_path):
    settings.update(scale="paper", missing_runs="report")
    out = results_dir(tmp_path, "paper", "pinn")
    log = pinn.run_grid(settings, out / "runs")
    runs = [(p, v.key, s) for p, v, s in pinn.grid(settings)]
    write_summaries(log, settings, out, metrics_path(tmp_path, "paper", "pinn"), runs)
    text = "\n".join(report.section(settings, tmp_path))
    assert "Not yet run" in text and "python -m fuse_repro.train pinn --scale paper" in text
