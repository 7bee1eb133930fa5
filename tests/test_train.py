"""The training loop, summaries, figures and report on a few synthetic batches."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from fuse_repro import report
from fuse_repro.core.optimizers import names
from fuse_repro.image import report as image_report
from fuse_repro.image import runs as train_module
from fuse_repro.image.plots import learning_curves
from fuse_repro.image.runs import LOG_COLUMNS, Split, run_grid, train_run
from fuse_repro.image.summary import epoch_times, phase_speed, summary_table, write_summaries
from fuse_repro.params import load, resolve

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture(scope="module")
def config():
    config = resolve(load(PARAMS), "fashion_mnist")
    config.update(epochs=3, batch_size=64, seeds=[0, 1], models=["mlp"])
    config["adam_sgd"]["switch_epoch"] = 2
    config["fuse_pv"].update(switch_epoch=1, warmup_epochs=1)
    return config


@pytest.fixture(scope="module")
def splits():
    """A learnable toy task: the label is the brightest of ten image bands."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (448, 28, 28), dtype=torch.uint8, generator=gen)
    y = x.float().reshape(448, -1)[:, :780].reshape(448, 10, 78).mean(-1).argmax(1)
    cpu = torch.device("cpu")
    return Split.from_uint8(x[:384], y[:384], cpu), Split.from_uint8(x[384:], y[384:], cpu)


@pytest.fixture(scope="module")
def log(config, splits, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return run_grid(config, *splits, runs, data_id="toy"), runs


def test_every_run_logs_every_epoch(log, config):
    frame, runs = log
    assert list(frame.columns) == LOG_COLUMNS
    assert len(frame) == len(names("image")) * 2 * (config["epochs"] + 1)
    assert len(list(runs.glob("*.csv"))) == len(names("image")) * 2
    assert not list(runs.glob("*.tmp"))
    assert frame[["train_loss", "test_loss", "test_accuracy"]].notna().all().all()


def test_same_initial_weights_per_seed_and_different_across_seeds(log):
    start = log[0][log[0]["epoch"] == 0]
    per_seed = start.groupby("seed")["train_loss"].nunique()
    assert (per_seed == 1).all()
    assert start.groupby("seed")["train_loss"].first().nunique() == 2


def test_closure_evaluations_and_phases(log, config):
    frame = log[0]
    batches = 384 // 64
    last = frame[frame["epoch"] == config["epochs"]].set_index(["optimizer", "seed"])
    assert last.loc[("sgd", 0), "closure_evals"] == config["epochs"] * batches
    assert last.loc[("lbfgs", 0), "closure_evals"] > config["epochs"] * batches
    phases = frame[(frame["optimizer"] == "adam_sgd") & (frame["seed"] == 0)]["phase"].tolist()
    assert phases == ["adam", "adam", "adam", "sgd"]
    epoch_rule = frame[(frame["optimizer"] == "fuse_pv_epoch") & (frame["seed"] == 0)]
    assert epoch_rule["phase"].tolist() == ["adam", "adam", "lbfgs", "lbfgs"]


def test_training_learns(log):
    frame = log[0]
    adam = frame[frame["optimizer"] == "adam"].groupby("epoch")["train_loss"].mean()
    assert adam.iloc[-1] < adam.iloc[0]


def test_outputs_figures_and_report(log, config, tmp_path):
    frame = log[0]
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
    assert "Fashion-MNIST (official files)" in report.header(
        "quick", manifest, {"commit": "c", "device": "cpu", "python": "3", "packages": "torch"}
    )
    items = image_report.section(config, dict(config, epochs=100), tmp_path / "out", manifest)
    text = "\n\n".join(item for item in items if isinstance(item, str))
    assert text.startswith("### FashionMNIST") and "batch 64, 3 epochs" in text
    assert "max_eval=4" in text and "(2/2)" in text
    assert any(
        row.split("|")[1:4] == [" mlp ", " FUSE-PV (epoch) ", " 2 "]
        for row in (" ".join(line.split()) for line in text.splitlines())
    )
    assert [item.path for item in items if isinstance(item, report.Figure)] == [figure]
    assert "rules that switched, by test accuracy" in text


def test_target_accuracy_and_phase_speed(log):
    """Evaluations and time to the target come from the first epoch reaching it; the
    speed ratios compare FUSE-PV's phases with Adam and L-BFGS in the same grid."""
    frame = log[0]
    table = summary_table(frame, target_accuracy=0.0).set_index("optimizer")
    assert (table["evals_to_target"] == 0).all() and (table["seeds_reached"] == 2).all()
    unreachable = summary_table(frame, target_accuracy=1.01)
    assert (unreachable["seeds_reached"] == 0).all()
    times = epoch_times(frame)
    adam = times[(times["optimizer"] == "adam")].iloc[0]
    runs = frame[frame["optimizer"] == "adam"]
    assert adam["epochs"] == len(runs) - runs["seed"].nunique()
    assert adam["seconds_per_epoch"] == pytest.approx(
        runs.groupby("seed")["wall_time"].max().sum() / adam["epochs"]
    )
    speed = phase_speed(times).set_index("phase")
    assert set(speed.index) == {"adam", "lbfgs"}
    pv = times.set_index(["optimizer", "phase"])
    assert speed.loc["lbfgs", "per_epoch"] == pytest.approx(
        pv.loc[("fuse_pv_epoch", "lbfgs"), "seconds_per_epoch"]
        / pv.loc[("lbfgs", "lbfgs"), "seconds_per_epoch"]
    )


def test_batch_larger_than_training_set_is_an_error(config, splits):
    with pytest.raises(ValueError, match="batch_size"):
        train_run("mlp", "adam", 0, dict(config, batch_size=10_000), *splits)


def test_rerun_keeps_finished_runs_and_never_deletes_others(log, config, splits, monkeypatch):
    """After a crash the stage reruns with its output kept: finished runs are read back,
    not retrained; a changed setting retrains; files of other settings stay (valid for
    those settings), and only an interrupted write's temporary file is removed."""
    frame, runs = log
    (runs / "cnn__adam__seed0__0123456789abcdef.csv").write_text("other settings")
    (runs / ".mlp__adam__seed0__0123.csv.partial").write_text("crash")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(train_module, "train_run", no_training)
    again = run_grid(config, *splits, runs, data_id="toy")
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)
    assert len(list(runs.iterdir())) == len(names("image")) * 2 + 1

    trained = []
    monkeypatch.setattr(
        train_module,
        "train_run",
        lambda *a, **k: (
            trained.append(a[:3]) or frame[(frame["optimizer"] == a[1]) & (frame["seed"] == a[2])]
        ),
    )
    run_grid(config, *splits, runs, data_id="other data")  # same grid, other data
    assert len(trained) == len(names("image")) * 2
    run_grid(dict(config, seeds=[0]), *splits, runs, data_id="other data")  # a smaller grid
    assert len(trained) == len(names("image")) * 2  # nothing retrained
    assert len(list(runs.iterdir())) == len(names("image")) * 4 + 1  # nothing deleted


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
