"""The image family's outputs and report section (fuse_repro.image.report), from a small
grid of runs: summaries and metrics, a learning-curve figure, the section's text, and the
speed notes."""

import json

import pandas as pd
import pytest

from fuse_repro import report
from fuse_repro.core.optimizers import names
from fuse_repro.image import report as image_report
from fuse_repro.image.plots import learning_curves
from fuse_repro.image.summary import write_summaries


def test_outputs_figures_and_report(grid_log, fashion_config, tmp_path):
    frame = grid_log[0]
    table = write_summaries(
        frame,
        tmp_path / "out",
        tmp_path / "metrics.json",
        target_accuracy=0.2,
        parameters={"mlp": 52650},
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["mlp"]) == set(names("image"))
    assert metrics["mlp"]["adam"]["test_accuracy"] == pytest.approx(
        table.set_index("optimizer").loc["adam", "test_accuracy_mean"], abs=1e-6
    )
    plot_csv = pd.read_csv(tmp_path / "out" / "plots" / "mlp_test_accuracy.csv")
    assert "FUSE-PV (epoch)" in plot_csv.columns and len(plot_csv) == 4
    figure = learning_curves(frame, "mlp", "toy", tmp_path / "out" / "figures" / "mlp.png")
    assert figure.stat().st_size > 10_000

    manifest = {"fashion_mnist": {"source_label": "Fashion-MNIST (official files)"}}
    items = image_report.section(
        fashion_config, dict(fashion_config, epochs=100), tmp_path / "out", manifest
    )
    text = "\n\n".join(item for item in items if isinstance(item, str))
    assert text.startswith("### FashionMNIST") and "batch 64, 3 epochs" in text
    assert "max_eval=4" in text and "(2/2)" in text
    assert any(
        row.split("|")[1:4] == [" mlp ", " FUSE-PV (epoch) ", " 2 "]
        for row in (" ".join(line.split()) for line in text.splitlines())
    )
    assert [item.path for item in items if isinstance(item, report.Figure)] == [figure]
    assert "rules that switched, by test accuracy" in text


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
    quick = {"train_size": 5000, "batch_size": 256, "experiment": "cifar10"}
    paper = {
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
