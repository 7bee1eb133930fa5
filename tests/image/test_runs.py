"""The image training code (fuse_repro.image.runs) on the CPU: the grid of runs and what
each logs, data subsets and normalisation, rerunning a stage and resuming a killed run
bit for bit, bf16 and channels-last options, and data parallelism under torchrun with
the gloo backend (2 processes)."""

import json
import math
import shutil

import pandas as pd
import pytest
import torch

from fuse_repro.image import runs as train_module
from fuse_repro.image.runs import (
    DIVERGED,
    LOG_COLUMNS,
    BatchNormUpdates,
    Split,
    Splits,
    check_run,
    passed_a_multiple,
    run_experiment,
    run_grid,
    subset_indices,
    train_run,
    whole_epochs,
)
from fuse_repro.image.settings import BATCH_NORM_UPDATES
from tests.helpers import CPU, row_band_images

OPTIMIZERS = ["sgd", "adam", "lbfgs", "adam_sgd", "fuse_pv_epoch", "fuse_pv_loss"]


# -------------------------------------------------------------------- the grid
def test_every_run_logs_every_epoch(grid_log, fashion_config):
    frame, runs = grid_log
    assert list(frame.columns) == [*LOG_COLUMNS, "charged_evals"]  # the budget, derived
    assert len(frame) == len(fashion_config["optimizers"]) * 2 * (fashion_config["epochs"] + 1)
    assert len(list(runs.glob("*.csv.gz"))) == len(fashion_config["optimizers"]) * 2
    assert not list(runs.glob("*.tmp"))
    assert frame[["train_loss", "test_loss", "test_accuracy"]].notna().all().all()


def test_same_initial_weights_per_seed_and_different_across_seeds(grid_log):
    start = grid_log[0][grid_log[0]["epoch"] == 0]
    per_seed = start.groupby("seed")["train_loss"].nunique()
    assert (per_seed == 1).all()
    assert start.groupby("seed")["train_loss"].first().nunique() == 2


def test_closure_evaluations_and_phases(grid_log, fashion_config):
    frame = grid_log[0]
    batches = 384 // 64
    last = frame[frame["epoch"] == fashion_config["epochs"]].set_index(["optimizer", "seed"])
    assert last.loc[("sgd", 0), "closure_evals"] == fashion_config["epochs"] * batches
    assert last.loc[("lbfgs", 0), "closure_evals"] > fashion_config["epochs"] * batches
    phases = frame[(frame["optimizer"] == "adam_sgd") & (frame["seed"] == 0)]["phase"].tolist()
    assert phases == ["adam", "adam", "adam", "sgd"]
    epoch_rule = frame[(frame["optimizer"] == "fuse_pv_epoch") & (frame["seed"] == 0)]
    assert epoch_rule["phase"].tolist() == ["adam", "adam", "lbfgs", "lbfgs"]


def test_training_learns(grid_log):
    frame = grid_log[0]
    adam = frame[frame["optimizer"] == "adam"].groupby("epoch")["train_loss"].mean()
    assert adam.iloc[-1] < adam.iloc[0]


def test_batch_larger_than_training_set_is_an_error(fashion_config, fashion_splits):
    with pytest.raises(ValueError, match="batch_size"):
        train_run("mlp", "adam", 0, dict(fashion_config, batch_size=10_000), fashion_splits)


def test_a_run_whose_parameters_stop_being_finite_stops_training_there(
    fashion_config, fashion_splits, monkeypatch
):
    """SGD with a learning rate of 1e38 leaves the parameters non-finite in epoch 1: the
    later epochs repeat epoch 1's evaluation as ``diverged``, with nothing trained or
    scored after it."""
    config = dict(fashion_config, epochs=4, sgd=dict(fashion_config["sgd"], lr=1e38))
    scored = []
    real_evaluate = train_module.evaluate

    def counted(model, split, world=train_module.SINGLE_PROCESS):
        scored.append(split)
        return real_evaluate(model, split, world)

    monkeypatch.setattr(train_module, "evaluate", counted)
    log = train_run("mlp", "sgd", 0, config, fashion_splits)
    assert log["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert log["phase"].tolist() == ["sgd", "sgd", DIVERGED, DIVERGED, DIVERGED]
    assert len(scored) == 4  # training and test sets at epochs 0 and 1 only
    after = log[log["epoch"] >= 1]
    for column in ("step", "wall_time", "closure_evals", "test_accuracy", "train_accuracy"):
        assert after[column].nunique() == 1, column
    assert log["grad_norm"].iloc[2:].isna().all()
    assert not math.isfinite(log["train_loss"].iloc[-1])


def test_a_count_passes_a_multiple_only_when_it_crosses_one():
    assert passed_a_multiple(7, 8, 4) and passed_a_multiple(7, 13, 4)  # one row, 2 passed
    assert not passed_a_multiple(8, 11, 4) and not passed_a_multiple(0, 100, None)


@pytest.mark.parametrize("optimizer", ["adam", "fuse_pv_epoch"])
def test_eval_every_scores_at_a_fixed_cadence_of_evaluations_and_changes_no_epoch_row(
    fashion_config, fashion_splits, optimizer
):
    """Rows at fractional epochs after each step that passes a multiple of ``eval_every``
    closure evaluations (none at an epoch's last step: the epoch's row is there); the
    whole-epoch rows are the run without the cadence, times aside (scoring trains nothing)."""
    plain = train_run("mlp", optimizer, 0, fashion_config, fashion_splits)
    every = 4  # 6 steps per epoch (384 images, batch 64); L-BFGS steps evaluate >= 2 times
    log = train_run("mlp", optimizer, 0, dict(fashion_config, eval_every=every), fashion_splits)
    assert check_run(fashion_config, f"mlp__{optimizer}__seed0__k", log) is None
    epochs = whole_epochs(log).reset_index(drop=True)
    untimed = [c for c in LOG_COLUMNS if c != "wall_time"]
    pd.testing.assert_frame_equal(epochs[untimed], plain[untimed], check_dtype=False)
    cadence = log[log["epoch"] % 1 != 0]
    assert len(cadence) >= fashion_config["epochs"]  # at least one per epoch
    evals = log["closure_evals"].tolist()
    for before, after, epoch in zip(evals, evals[1:], log["epoch"].iloc[1:]):
        if epoch % 1:  # a cadence row: the step before it passed a multiple of `every`
            assert after // every > before // every
    assert cadence["grad_norm"].isna().all()
    fractions = (cadence["epoch"] % 1) * 6
    assert (fractions - fractions.round()).abs().max() < 1e-9  # after batch b of 6
    if optimizer == "adam":  # one evaluation per step: multiples 4, 8, (12: epoch end), 16
        assert cadence["epoch"].tolist() == pytest.approx([4 / 6, 1 + 2 / 6, 2 + 4 / 6])


class FakeClock:
    """A ``time`` module whose clock moves only when the model is scored."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def test_the_cadences_scoring_is_not_training_time(fashion_config, fashion_splits, monkeypatch):
    clock, real_evaluate = FakeClock(), train_module.evaluate

    def slow_evaluate(model, split, world=train_module.SINGLE_PROCESS):
        clock.now += 100.0
        return real_evaluate(model, split, world)

    monkeypatch.setattr(train_module, "time", clock)
    monkeypatch.setattr(train_module, "evaluate", slow_evaluate)
    config = dict(fashion_config, eval_every=4)
    log = train_run("mlp", "fuse_pv_epoch", 0, config, fashion_splits)
    assert clock.now >= 100.0 * 2 * len(log)  # every row was scored...
    assert (log["wall_time"] == 0.0).all()  # ...and none of it was timed


def test_a_killed_run_with_a_cadence_resumes_from_its_checkpoint(
    fashion_config, fashion_splits, tmp_path, monkeypatch
):
    config = dict(fashion_config, eval_every=4)
    uninterrupted = train_run("mlp", "adam", 0, config, fashion_splits)
    checkpoint, real_evaluate, calls = tmp_path / "run.pt", train_module.evaluate, {"n": 0}

    def evaluate_then_die(model, split, world=train_module.SINGLE_PROCESS):
        calls["n"] += 1
        if calls["n"] == 2 * 6 + 1:  # epochs 0, 2/3, 1, 4/3, 2, 8/3 scored: dies at 3
            raise Killed
        return real_evaluate(model, split, world)

    monkeypatch.setattr(train_module, "evaluate", evaluate_then_die)
    with pytest.raises(Killed):
        train_run("mlp", "adam", 0, config, fashion_splits, checkpoint)
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 2
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)
    resumed = train_run("mlp", "adam", 0, config, fashion_splits, checkpoint)
    assert not list(tmp_path.glob("*.damaged"))
    pd.testing.assert_frame_equal(
        resumed.drop(columns="wall_time"), uninterrupted.drop(columns="wall_time")
    )


def test_a_run_file_with_epochs_out_of_order_or_missing_is_rejected(grid_log, fashion_config):
    frame = grid_log[0]
    run = frame[(frame["optimizer"] == "adam") & (frame["seed"] == 0)][LOG_COLUMNS]
    name = "mlp__adam__seed0__k"
    assert check_run(fashion_config, name, run) is None
    assert "in order" in check_run(fashion_config, name, run.iloc[::-1])
    assert "in order" in check_run(fashion_config, name, run.iloc[:-1])
    between = pd.concat([run, run.iloc[[1]].assign(epoch=0.5)])  # a cadence row out of place
    assert "in order" in check_run(fashion_config, name, between)


def test_rerun_keeps_finished_runs_and_never_deletes_others(
    grid_log, fashion_config, fashion_splits, tmp_path, monkeypatch
):
    """After a crash the stage reruns with its output kept: finished runs are read back,
    not retrained; a changed setting retrains; files of other settings stay (valid for
    those settings), and only an interrupted write's temporary file is removed."""
    frame, shared_runs = grid_log
    runs = shutil.copytree(shared_runs, tmp_path / "runs")  # the shared folder stays whole
    (runs / "cnn__adam__seed0__0123456789abcdef.csv.gz").write_text("other settings")
    (runs / ".mlp__adam__seed0__0123.csv.partial").write_text("crash")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(train_module, "train_run", no_training)
    again = run_grid(fashion_config, fashion_splits, runs, data_id="toy")
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)
    assert len(list(runs.iterdir())) == len(fashion_config["optimizers"]) * 2 + 1

    trained = []
    monkeypatch.setattr(
        train_module,
        "train_run",
        lambda *a, **k: (
            trained.append(a[:3])
            or frame.loc[(frame["optimizer"] == a[1]) & (frame["seed"] == a[2]), LOG_COLUMNS]
        ),
    )
    run_grid(fashion_config, fashion_splits, runs, data_id="other data")  # same grid, other data
    assert len(trained) == len(fashion_config["optimizers"]) * 2
    run_grid(dict(fashion_config, seeds=[0]), fashion_splits, runs, data_id="other data")
    assert (
        len(trained) == len(fashion_config["optimizers"]) * 2
    )  # a smaller grid: nothing retrained
    assert len(list(runs.iterdir())) == len(fashion_config["optimizers"]) * 4 + 1  # nothing deleted


def test_missing_runs_report_reads_back_and_trains_nothing(
    grid_log, fashion_config, fashion_splits, tmp_path, monkeypatch, capsys
):
    """The paper scale's stages: the runs stored are read back, the others only named."""
    frame, shared_runs = grid_log
    runs = shutil.copytree(shared_runs, tmp_path / "runs")
    next(runs.glob("mlp__adam__seed1__*.csv.gz")).unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("a stage with missing_runs: report trained a run")

    monkeypatch.setattr(train_module, "train_run", no_training)
    log = run_grid(dict(fashion_config, missing_runs="report"), fashion_splits, runs, "toy")
    assert len(log) == len(frame) - (fashion_config["epochs"] + 1)
    assert "1 of 16 runs not stored" in capsys.readouterr().out.replace(
        str(len(fashion_config["optimizers"]) * 2), "16"
    )
    assert not list(runs.glob("mlp__adam__seed1__*"))
    empty = run_grid(dict(fashion_config, missing_runs="report"), fashion_splits, tmp_path, "x")
    assert empty.empty and list(empty.columns) == [*LOG_COLUMNS, "charged_evals"]


# -------------------------------------------------------------------- data
def test_a_validation_split_is_held_out_and_leaves_the_subset_without_one_unchanged():
    assert subset_indices(100, None) == (None, None)
    alone, _ = subset_indices(100, 30)
    train, validation = subset_indices(100, 30, held_out=20)
    assert torch.equal(train, alone)  # runs from before validation splits stay valid
    rest, validation_again = subset_indices(100, None, held_out=20)
    assert len(rest) == 80 and torch.equal(validation, validation_again)
    assert set(rest.tolist()).isdisjoint(validation.tolist())


def test_validation_metrics_are_logged_when_there_is_a_split(cifar_config, cifar_splits):
    with_validation = Splits(cifar_splits.train, cifar_splits.test, cifar_splits.test)
    config = dict(cifar_config, epochs=1)
    log = train_run("densenet_paper", "adam", 0, config, with_validation)
    assert log["val_loss"].tolist() == log["test_loss"].tolist()  # the same images here
    assert log["val_accuracy"].tolist() == log["test_accuracy"].tolist()
    plain = train_run("densenet_paper", "adam", 0, config, cifar_splits)
    assert plain["val_loss"].isna().all() and plain["val_accuracy"].isna().all()
    assert plain["grad_norm"].isna().tolist() == [True, False]  # before training: none
    assert plain["grad_norm"].iloc[1] > 0


def test_the_validation_loss_rule_reads_the_validation_split(cifar_config, cifar_splits):
    """With the training images as validation split, the rule watching the validation
    loss sees what the training-loss rule sees, so both switch alike; without a split the
    run is refused."""
    same = Splits(cifar_splits.train, cifar_splits.train, cifar_splits.test)
    logs = {
        name: train_run("densenet_paper", name, 0, cifar_config, same)
        for name in ("fuse_pv_loss", "fuse_pv_val_loss")
    }
    columns = ["switch_epoch", "closure_evals", "test_loss"]
    assert logs["fuse_pv_loss"][columns].equals(logs["fuse_pv_val_loss"][columns])
    assert logs["fuse_pv_loss"]["switch_epoch"].notna().any()  # the rule fired
    with pytest.raises(ValueError, match="validation_size"):
        train_run("densenet_paper", "fuse_pv_val_loss", 0, cifar_config, cifar_splits)


def test_step_start_lets_only_each_steps_first_evaluation_move_batch_norm_statistics():
    norm = torch.nn.BatchNorm1d(2)
    updates = BatchNormUpdates(torch.nn.Sequential(norm), "step_start")
    first, trial = torch.randn(8, 2), torch.randn(8, 2) + 10.0
    updates.update_running_statistics(at_step_start=True)
    norm(first)
    expected = norm.running_mean.clone()
    assert torch.allclose(expected, 0.1 * first.mean(0))
    updates.update_running_statistics(at_step_start=False)
    norm(trial)  # a line-search trial: the statistics stay where they were
    assert torch.equal(norm.running_mean, expected) and norm.momentum == 0.0
    updates.update_running_statistics(at_step_start=True)
    assert norm.momentum == 0.1
    with pytest.raises(ValueError, match="batch_norm_updates"):
        BatchNormUpdates(torch.nn.Sequential(norm), "never")


def test_batch_norm_updates_change_only_runs_that_evaluate_more_than_once_per_step(
    cifar_config, cifar_splits
):
    logs = {
        (name, mode): train_run(
            "densenet_paper",
            name,
            0,
            dict(cifar_config, epochs=1, batch_norm_updates=mode),
            cifar_splits,
        ).drop(columns="wall_time")
        for name in ("adam", "lbfgs_same_batch")
        for mode in BATCH_NORM_UPDATES
    }
    assert logs["adam", "every_evaluation"].equals(logs["adam", "step_start"])
    assert not logs["lbfgs_same_batch", "every_evaluation"].equals(
        logs["lbfgs_same_batch", "step_start"]
    )


def test_subsets_are_fixed_random_and_normalisation_is_per_channel():
    x = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 3, 2, 2).clone()
    y = torch.arange(100) // 10  # sorted by class, like the JPEG re-encoding
    first = Split.from_uint8(x, y, CPU, subset_indices(100, 30)[0])
    again = Split.from_uint8(x, y, CPU, subset_indices(100, 30)[0])
    assert torch.equal(first.y, again.y)
    assert len(first.y.unique()) > 3  # not the first 30 (three classes)
    norm = Split.from_uint8(x, y, CPU, normalize={"mean": [0.5, 0.0, 0.0], "std": [0.5, 1, 2]})
    assert norm.x[10, :, 0, 0].tolist() == pytest.approx(
        [(10 / 255 - 0.5) / 0.5, 10 / 255, 10 / 255 / 2]
    )


# -------------------------------------------------------------------- resume
class Killed(Exception):
    pass


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_killed_run_resumes_and_ends_bit_for_bit_as_an_uninterrupted_one(
    optimizer, cifar_config, cifar_splits, tmp_path, monkeypatch
):
    """Killed after epoch 2 of 3 (FUSE-PV and Adam→SGD then in their second phase), the
    rerun loads the checkpoint and logs exactly what one uninterrupted run logs."""
    uninterrupted = train_run("densenet_paper", optimizer, 0, cifar_config, cifar_splits)
    checkpoint = tmp_path / "run.pt"
    real_log = train_module.evaluate
    calls = {"n": 0}

    def evaluate_then_die(model, split, world=train_module.SINGLE_PROCESS):
        calls["n"] += 1
        if calls["n"] == 7:  # train+test at epochs 0, 1, 2 are calls 1-6: dies at epoch 3
            raise Killed
        return real_log(model, split, world)

    monkeypatch.setattr(train_module, "evaluate", evaluate_then_die)
    with pytest.raises(Killed):
        train_run("densenet_paper", optimizer, 0, cifar_config, cifar_splits, checkpoint)
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 2
    monkeypatch.setattr(train_module, "evaluate", real_log)
    resumed = train_run("densenet_paper", optimizer, 0, cifar_config, cifar_splits, checkpoint)
    pd.testing.assert_frame_equal(
        resumed.drop(columns="wall_time"), uninterrupted.drop(columns="wall_time")
    )
    if optimizer in ("fuse_pv_epoch", "adam_sgd"):
        assert resumed["phase"].iloc[-1] != resumed["phase"].iloc[1]


def test_run_grid_resumes_from_checkpoints_and_removes_them(cifar_config, cifar_splits, tmp_path):
    config = dict(cifar_config, optimizers=["adam"])
    runs = tmp_path / "runs"
    log = run_grid(config, cifar_splits, runs, data_id="fake")
    assert len(log) == config["epochs"] + 1
    assert list((tmp_path / "checkpoints").iterdir()) == []  # done with


# -------------------------------------------------------------------- options
def test_bf16_autocast_and_channels_last_train_with_float32_state(cifar_config, cifar_splits):
    config = dict(cifar_config, bf16=True, channels_last=True, epochs=1)
    plain = train_run("densenet_paper", "adam", 0, dict(cifar_config, epochs=1), cifar_splits)
    fast = train_run("densenet_paper", "adam", 0, config, cifar_splits)
    assert fast["train_loss"].notna().all()
    assert fast["train_loss"].iloc[0] == pytest.approx(plain["train_loss"].iloc[0], rel=1e-5)
    assert fast["train_loss"].iloc[-1] == pytest.approx(plain["train_loss"].iloc[-1], rel=0.05)


# -------------------------------------------------------------------- torchrun
def write_experiment(tmp_path, block, channels, size, model, processes):
    """The settings ``block`` of an experiment (its quick block, shrunk) that train
    ``model`` in ``processes`` processes, and a prepared dir with random images for them."""
    experiment = block["experiment"]
    prepared = tmp_path / "prepared"
    prepared.mkdir(exist_ok=True)
    x, y = row_band_images(192, (channels, size, size), seed=1)
    torch.save(
        {"train_x": x[:128], "train_y": y[:128], "test_x": x[128:], "test_y": y[128:]},
        prepared / f"{experiment}.pt",
    )
    (prepared / "manifest.json").write_text(
        json.dumps({experiment: {"source": "random", "files": {}}})
    )
    block.update(
        models=[model],
        optimizers=["adam", "lbfgs", "fuse_pv_epoch"],
        seeds=[0],
        epochs=2,
        batch_size=32,
        train_size=None,
        test_size=None,
        device="cpu",
        processes=processes,
    )
    block["adam_sgd"]["switch_epoch"] = 1
    block["fuse_pv"].update(switch_epoch=1, warmup_epochs=1)
    return block, prepared


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment,channels,size,model,exact",
    [
        ("fashion_mnist", 1, 28, "mlp", True),  # no batch norm: the same sums
        ("cifar10", 3, 32, "densenet_paper", False),  # batch norm per process on CPUs
    ],
)
def test_two_processes_under_torchrun_give_the_curves_of_one(
    tmp_path, resolved, experiment, channels, size, model, exact
):
    """Each process takes half of every batch; gradients, losses and evaluation sums are
    averaged over both. Without batch norm that is one process's computation up to the
    order of floating-point sums: the same counts and phases, and losses equal to 1e-4
    until L-BFGS runs, whose line search turns reordered sums into differences of a few
    per cent (1.8 % measured on an AMD EPYC AVX2 CPU, none on Intel AVX-512). With batch
    norm (per-process statistics on CPUs, synchronised on GPUs) the curves agree within
    noise."""
    runs = tmp_path / "runs"
    one = run_experiment(
        *write_experiment(tmp_path, resolved(experiment), channels, size, model, 1), runs
    )
    two = run_experiment(
        *write_experiment(tmp_path, resolved(experiment), channels, size, model, 2), runs
    )
    assert len(list(runs.iterdir())) == 6  # the 1-process runs stay beside the 2-process ones
    counts = ["optimizer", "epoch", "step"] + (["closure_evals", "phase"] if exact else [])
    pd.testing.assert_frame_equal(two[counts], one[counts])
    losses = ["train_loss", "test_loss"]
    if not exact:
        pd.testing.assert_frame_equal(two[losses], one[losses], rtol=0.15, atol=0.0)
        return
    for phase, rows in one.groupby("phase").groups.items():
        tolerance = 0.05 if phase == "lbfgs" else 1e-4
        pd.testing.assert_frame_equal(
            two.loc[rows, losses], one.loc[rows, losses], rtol=tolerance, atol=0.0
        )


def test_runs_at_once_in_worker_processes_log_what_one_process_logs(
    fashion_config, fashion_splits, tmp_path
):
    """workers: 2 trains two runs at a time, each in its own single-thread process, the
    data shared; every number but the wall times is what one single-thread process logs
    (threads change the order of float sums), in the grid's order."""
    config = dict(fashion_config, optimizers=["adam", "lbfgs", "fuse_pv_epoch"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = run_grid(config, fashion_splits, tmp_path / "serial", data_id="toy")
    finally:
        torch.set_num_threads(threads)
    parallel = run_grid(dict(config, workers=2), fashion_splits, tmp_path / "runs", "toy")
    pd.testing.assert_frame_equal(
        parallel.drop(columns="wall_time"), serial.drop(columns="wall_time")
    )
    assert list(parallel["optimizer"].unique()) == config["optimizers"]


def test_a_loss_rule_is_charged_a_forward_pass_over_what_it_watches_until_it_switches():
    """charged_evals: Adam pays its closure evaluations only; the loss rule a third of a
    pass over the 1000 training images (10 batches of 100) each epoch until its switch
    after epoch 2; the validation-loss rule a third of its 3 validation batches each epoch."""
    split = Split(torch.zeros(1000, 1, 2, 2), torch.zeros(1000, dtype=torch.int64))
    held_out = Split(torch.zeros(300, 1, 2, 2), torch.zeros(300, dtype=torch.int64))
    splits = Splits(split, held_out, split)
    switch = {"adam": [None] * 5, "fuse_pv_loss": [None, None, 2, 2, 2]}
    switch["fuse_pv_val_loss"] = [None] * 5
    log = pd.DataFrame(
        [
            {"optimizer": name, "epoch": epoch, "closure_evals": 10 * epoch, "switch_epoch": s}
            for name, counters in switch.items()
            for epoch, s in enumerate(counters)
        ]
    )
    charged = train_module.charged_evals(log, splits, batch_size=100).groupby(log["optimizer"])
    evals = [0, 10, 20, 30, 40]
    assert charged.get_group("adam").tolist() == evals
    loss = [e + 10 / 3 * min(epoch, 2) for epoch, e in enumerate(evals)]
    assert charged.get_group("fuse_pv_loss").tolist() == pytest.approx(loss)
    val_loss = [e + epoch for epoch, e in enumerate(evals)]
    assert charged.get_group("fuse_pv_val_loss").tolist() == pytest.approx(val_loss)
