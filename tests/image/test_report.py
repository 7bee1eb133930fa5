"""The image family's outputs and report section (fuse_repro.image.report), from a small
grid of runs: summaries and metrics, a learning-curve figure, the section's text, and the
speed notes."""

import json

import pandas as pd
import pytest

from fuse_repro import report
from fuse_repro.core.paths import metrics_path, results_dir
from fuse_repro.image import report as image_report
from fuse_repro.image.plots import learning_curves
from fuse_repro.image.runs import LOG_COLUMNS, grid
from fuse_repro.image.summary import write_summaries


def test_outputs_figures_and_report(grid_log, fashion_config, tmp_path):
    frame = grid_log[0]
    scale = fashion_config["scale"]
    out = results_dir(tmp_path, scale, "fashion_mnist")
    metrics_file = metrics_path(tmp_path, scale, "fashion_mnist")
    runs = grid(fashion_config)
    table = write_summaries(
        frame, out, metrics_file, target_accuracy=0.2, parameters={"mlp": 52650}, grid=runs
    )
    metrics = json.loads(metrics_file.read_text())
    assert set(metrics["mlp"]) == set(fashion_config["optimizers"])
    last_rows = frame.sort_values("epoch").groupby(["model", "optimizer", "seed"]).tail(1)
    assert metrics["runs"] == {
        "stored": len(runs),
        "grid": len(runs),
        "training_seconds": round(last_rows["wall_time"].sum(), 1),
    }
    assert metrics["runs"]["training_seconds"] > 0
    assert pd.read_csv(out / "grid.csv")["stored"].all()
    assert metrics["mlp"]["adam"]["test_accuracy"] == pytest.approx(
        table.set_index("optimizer").loc["adam", "test_accuracy_mean"], abs=1e-6
    )
    plot_csv = pd.read_csv(out / "plots" / "mlp_test_accuracy.csv")
    assert "FUSE-PV (epoch)" in plot_csv.columns and len(plot_csv) == 4
    figure = learning_curves(frame, "mlp", "toy", out / "figures" / "mlp.png")
    assert figure.stat().st_size > 10_000

    manifest = {"fashion_mnist": {"source_label": "Fashion-MNIST (official files)"}}
    items = image_report.section(
        fashion_config, dict(fashion_config, epochs=100), tmp_path, manifest, {}
    )
    text = "\n\n".join(item for item in items if isinstance(item, str))
    assert text.startswith("### FashionMNIST") and "batch 64, 3 epochs" in text
    assert "max_eval=4" in text and "(2/2)" in text and "Partial grid" not in text
    assert any(
        row.split("|")[1:4] == [" MLP ", " FUSE-PV (epoch) ", " 2 "]
        for row in (" ".join(line.split()) for line in text.splitlines())
    )
    assert [item.path for item in items if isinstance(item, report.Figure)] == [figure]
    assert "The paper's claims on these runs" in text
    assert (
        "| L-BFGS after Adam improves on Adam alone | FashionMNIST, MLP | equal epochs"
        in " ".join(text.split())
    )

    more = runs + [("cnn", "adam", seed) for seed in range(4)]
    write_summaries(frame, out, metrics_file, 0.2, {"mlp": 52650}, grid=more)
    items = image_report.section(fashion_config, fashion_config, tmp_path, manifest, {})
    assert f"{len(runs)} of the {len(more)} runs are stored" in items[1]
    assert pd.read_csv(out / "grid.csv")["stored"].sum() == len(runs)


def test_no_run_stored_leaves_only_the_metrics_and_a_report_that_says_so(fashion_config, tmp_path):
    scale = fashion_config["scale"]
    out = results_dir(tmp_path, scale, "fashion_mnist")
    (out / "figures").mkdir(parents=True)
    (out / "summary.csv").write_text("stale")
    empty = pd.DataFrame(columns=LOG_COLUMNS)
    metrics_file = metrics_path(tmp_path, scale, "fashion_mnist")
    write_summaries(empty, out, metrics_file, 0.2, {}, grid=[("cnn", "sgd", s) for s in range(12)])
    assert json.loads(metrics_file.read_text()) == {
        "runs": {"stored": 0, "grid": 12, "training_seconds": 0.0}
    }
    assert list(out.iterdir()) == [out / "grid.csv"]  # the folder exists, even in git
    items = image_report.section(fashion_config, fashion_config, tmp_path, {}, {})
    assert "Not yet run at the quick scale" in items[1]
    assert "python -m fuse_repro.train fashion_mnist --scale quick" in items[1]


def test_speed_notes_scale_this_runs_epochs_to_the_paper():
    times = pd.DataFrame(
        {
            "model": ["m", "m", "m"],
            "optimizer": ["adam", "lbfgs", "sgd"],
            "phase": ["adam", "lbfgs", "sgd"],
            "epochs": [4, 4, 4],
            "seconds": [8.0, 40.0, 4.0],
            "evals": [64, 256, 64],
        }
    )
    quick = {"train_size": 5000, "batch_size": 256, "experiment": "cifar10", "scale": "quick"}
    paper = {
        "scale": "paper",
        "train_size": None,
        "models": ["m"],
        "optimizers": ["adam", "lbfgs"],
        "epochs": 50,
        "seeds": [0, 1],
        "batch_size": 512,
    }
    (note,) = image_report.speed_notes(
        pd.DataFrame(
            columns=["model", "phase", "reference", "epochs", "per_epoch", "per_eval"]
        ).astype(object),
        times,
        quick,
        paper,
        "test CPU",
    )
    hours = (2.0 + 10.0) * 10 * 50 * 2 / 3600  # s/epoch (adam + lbfgs) x 10x data x epochs x seeds
    assert f"{hours:.1f} h" in note and "test CPU" in note


def test_a_comparison_from_one_seed_gives_its_difference_without_a_nan_interval():
    """The paper CNN's first confirmation seed was reported as ``[+nan, +nan]``."""
    row = pd.Series(
        {
            "outcome": "one seed",
            "difference": -0.0097,
            "low": float("nan"),
            "high": float("nan"),
            "measure": "closure evaluations",
            "budget": 9700.0,
        }
    )
    assert image_report._comparison_cell(row) == "-0.0097 (1 seed) (9,700 evaluations)"
    row[["outcome", "low", "high"]] = ["worse", -0.02, -0.001]
    assert (
        image_report._comparison_cell(row)
        == "worse: -0.0097 [-0.0200, -0.0010] (9,700 evaluations)"
    )
