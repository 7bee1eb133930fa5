"""params.yaml validation: the committed file is valid; every kind of mistake is
reported with the key's full path before any work starts."""

import copy

import pytest
import yaml

from fuse_repro import params as P
from tests.helpers import PARAMS


@pytest.fixture
def committed(committed_params):
    """A copy of the committed params that a test may break."""
    return copy.deepcopy(committed_params)


def test_committed_params_are_valid_and_only_the_quick_stages_train(committed):
    P.validate(committed)
    config = P.resolve(P.load(PARAMS), "fashion_mnist", "quick")
    assert config["scale"] == "quick"
    assert config["seeds"] == committed["fashion_mnist"]["quick"]["seeds"]
    for experiment in P.EXPERIMENTS:
        assert P.resolve(committed, experiment, "quick")["missing_runs"] == "train"
        assert P.resolve(committed, experiment, "paper")["missing_runs"] == "report"


def test_toy_blocks_follow_the_official_fuse_pv_defaults(committed):
    for scale in ("quick", "paper"):
        toy = P.resolve(committed, "toy", scale)
        assert toy["fuse_pv"]["switch_epoch"] == 5 and toy["fuse_pv"]["grad_threshold"] == 0.5
        assert toy["fuse_pv"]["warmup_epochs"] == 3
        assert toy["fuse_pv"]["lr"] == toy["adam"]["lr"]  # FUSE-PV's Adam phase is the Adam run
        assert 0.0 in toy["noise_scales"] and "scipy" in toy["optimizers"]
    assert committed["toy"]["paper"]["starts"] == 100


def test_paper_block_is_the_paper_configuration(committed):
    paper = P.resolve(committed, "fashion_mnist", "paper")
    assert paper["seeds"] == [0, 1, 2, 42]
    assert paper["batch_size"] == 512 and paper["epochs"] == 100
    assert paper["train_size"] is None and paper["test_size"] is None
    assert paper["adam"]["lr"] == 1e-3 and paper["sgd"]["lr"] == 0.01
    assert paper["lbfgs"]["history_size"] == 10
    assert paper["adam_sgd"]["switch_epoch"] == paper["epochs"] // 2
    assert paper["fuse_pv"]["switch_epoch"] == 5 and paper["fuse_pv"]["grad_threshold"] == 0.5


def mutate(params, path, value):
    node = params
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return params


@pytest.mark.parametrize(
    "path,value,message",
    [
        ("toy.paper.missing_runs", "later", "toy.paper.missing_runs: must be one of"),
        ("fashion_mnist.quick.epochs", 0, "fashion_mnist.quick.epochs: must be >= 1"),
        ("fashion_mnist.quick.epochs", 2.5, "fashion_mnist.quick.epochs: expected an integer"),
        ("fashion_mnist.paper.seeds", [], "fashion_mnist.paper.seeds: expected a non-empty list"),
        ("fashion_mnist.paper.seeds", [0, 0], "fashion_mnist.paper.seeds: has repeated"),
        ("fashion_mnist.quick.optimizers", ["adam", "adamw"], "fashion_mnist.quick.optimizers[1]"),
        ("fashion_mnist.common.adam.lr", -1e-3, "fashion_mnist.common.adam.lr: must be > 0"),
        ("fashion_mnist.common.adam.lr", "1e-3", "fashion_mnist.common.adam.lr: expected a number"),
        ("fashion_mnist.common.adam.lr", "1e-3", "write 1.0e-3"),
        ("fashion_mnist.common.adam.lr", float("nan"), "adam.lr: must be a finite number"),
        ("fashion_mnist.quick.fuse_pv.min_delta", float("inf"), "must be a finite number"),
        ("fashion_mnist.common.batch_size", 0, "fashion_mnist.common.batch_size: must be >= 1"),
        ("fashion_mnist.quick.fuse_pv.patience", True, "fuse_pv.patience: expected an integer"),
        ("fashion_mnist.quick.fuse_pv.min_delta", 2.0, "fuse_pv.min_delta: must be <= 1.0"),
        ("fashion_mnist.quick.train_size", 70000, "fashion_mnist.quick.train_size: must be <="),
        ("fashion_mnist.quick.device", "tpu", "fashion_mnist.quick.device: must be one of"),
        ("fashion_mnist.quick.fuse_pv.typo", 1, "fashion_mnist.quick.fuse_pv.typo: unknown key"),
        (
            "fashion_mnist.common.lbfgs",
            KeyError,
            "fashion_mnist.quick.lbfgs: missing key (in neither",
        ),
        ("fashion_mnist.common.normalize", [0.5], "fashion_mnist.common.normalize: expected"),
        (
            "fashion_mnist.quick.adam_sgd.switch_epoch",
            99,
            "adam_sgd.switch_epoch: must be < epochs",
        ),
        (
            "fashion_mnist.quick.optimizers",
            ["adam", "fuse_pv_val_loss"],
            "fuse_pv_val_loss watch the validation loss, so validation_size must set",
        ),
        ("fashion_mnist.common.fuse_pv.grad_ratio", 0.0, "fuse_pv.grad_ratio: must be > 0"),
        ("fashion_mnist.common.sgd.momentum", 1.0, "sgd.momentum: must be <= 0.999"),
        ("extra_block", {}, "extra_block: unknown key"),
        ("sweeps.fashion_mnist_switch.scale", "huge", "fashion_mnist_switch.scale: must be one of"),
        ("sweeps.fashion_mnist_switch.trials", 0, "sweeps.fashion_mnist_switch.trials: must be >="),
        (
            "sweeps.fashion_mnist_switch.optimizers.fuse_pv_epoch",
            {"fuse_pv.switch_epoch": [1, 99]},
            "sweeps.fashion_mnist_switch.optimizers.fuse_pv_epoch.fuse_pv.switch_epoch: "
            "must be < epochs",
        ),
        (
            "sweeps.fashion_mnist_switch.optimizers.adamw",
            {},
            "sweeps.fashion_mnist_switch.optimizers.adamw: must be one of",
        ),
        (
            "sweeps.fashion_mnist_tuning.optimizers.adam",
            {"adam.lr": [-0.1]},
            "sweeps.fashion_mnist_tuning.optimizers.adam.adam.lr: must be > 0",
        ),
        (
            "sweeps.fashion_mnist_switch.settings",
            {"validation_size": 0},
            "sweeps.fashion_mnist_switch.settings.validation_size: must be >= 1",
        ),
        ("toy.quick.functions", [{"name": "rosenbrok", "dim": 2}], "toy.quick.functions[0].name"),
        (
            "toy.quick.functions",
            [{"name": "beale", "dim": 3}],
            "toy.quick.functions[0]: test function 'beale' is defined for dim=2 only",
        ),
        (
            "toy.paper.ablation.functions",
            [{"name": "rosenbrock"}],
            "toy.paper.ablation.functions[0].dim: missing key",
        ),
        ("toy.quick.workers", 0, "toy.quick.workers: must be >= 1, got 0 (or 'auto')"),
        ("toy.quick.noise_scales", [0.0, -1.0], "toy.quick.noise_scales[1]: must be >= 0"),
        ("toy.quick.fuse.thetas", [1.5], "toy.quick.fuse.thetas[0]: must be <= 1.0"),
        ("toy.quick.optimizers", ["bfgs"], "toy.quick.optimizers[0]: must be one of"),
        ("toy.quick.ablation.sweeps.history_size", [0], "sweeps.history_size[0]: must be >= 1"),
        ("pinn.common.problems", ["poisson"], "pinn.common.problems[0]: must be one of"),
        ("pinn.quick.optimizers", ["sgd"], "pinn.quick.optimizers[0]: must be one of"),
        (
            "pinn.quick.switch_epochs",
            [2, 20],
            "pinn.quick.switch_epochs[1]: 20 epochs of 20 steps leave nothing of the budget",
        ),
        ("pinn.paper.log_every", 10_000, "pinn.paper.log_every: 10000 is beyond the budget"),
        ("pinn.common.fuse_pv.full_batch", "yes", "pinn.common.fuse_pv.full_batch: expected"),
    ],
)
def test_each_mistake_names_its_key(committed, path, value, message):
    broken = mutate(copy.deepcopy(committed), path, value)
    with pytest.raises(P.ParamsError) as error:
        P.validate(broken)
    assert message in str(error.value)


def test_cli_reports_errors_without_traceback(tmp_path, capsys, committed):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(mutate(committed, "toy.quick.missing_runs", "later")))
    assert P.main([str(bad)]) == 2
    assert "params error: toy.quick.missing_runs: must be one of" in capsys.readouterr().err
    assert P.main([str(tmp_path / "missing.yaml")]) == 2
    bad.write_text("toy: [unclosed")
    assert P.main([str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
