"""What the CIFAR-10 stage needs from the training code, on the CPU: the DenseNets, data
subsets and normalisation, resuming a killed run bit for bit, bf16 and channels-last
options, and data parallelism under torchrun with the gloo backend (2 processes)."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from fuse_repro.image import runs as train_module
from fuse_repro.image.models import build_model, parameter_count
from fuse_repro.image.runs import Split, run_experiment, train_run
from fuse_repro.params import load, resolve

ROOT = Path(__file__).resolve().parents[1]
OPTIMIZERS = ["sgd", "adam", "lbfgs", "adam_sgd", "fuse_pv_epoch", "fuse_pv_loss"]


def images(n, channels, size, seed):
    """Random uint8 images whose label is the brightest of ten horizontal bands."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=gen)
    bands = x.float().mean(1)[:, :20].reshape(n, 10, -1).mean(-1)  # 10 bands of 2 rows
    return x, bands.argmax(1)


@pytest.fixture(scope="module")
def cifar_config():
    config = resolve(load(ROOT / "params.yaml"), "cifar10")
    config.update(epochs=3, batch_size=32, seeds=[0], train_size=None, test_size=None)
    config["adam_sgd"]["switch_epoch"] = 1
    config["fuse_pv"].update(switch_epoch=1, warmup_epochs=1, patience=1, min_delta=0.5)
    return config


@pytest.fixture(scope="module")
def cifar_splits(cifar_config):
    cpu = torch.device("cpu")
    x, y = images(160, 3, 32, seed=0)
    return (
        Split.from_uint8(x[:128], y[:128], cpu, normalize=cifar_config["normalize"]),
        Split.from_uint8(x[128:], y[128:], cpu, normalize=cifar_config["normalize"]),
    )


# -------------------------------------------------------------------- models
def test_the_papers_densenet_has_no_dense_layer_and_4682_parameters():
    model = build_model("densenet_paper", seed=0)
    assert parameter_count("densenet_paper") == 4682
    assert all(
        len(block) == 0
        for name, block in model.features.named_children()
        if name.startswith("denseblock")
    )
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 64, (3, 3)),
        (64, 32, (1, 1)),
        (32, 16, (1, 1)),
    ]
    std = convs[0].weight.std().item()  # He initialisation, fan-out: sqrt(2 / (9 * 64))
    assert std == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.1)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_densenet_bc100_is_the_standard_cifar_model():
    assert parameter_count("densenet_bc100") == 769_162  # 0.8M, Huang et al. Table 2
    model = build_model("densenet_bc100", seed=0)
    assert [len(b) for n, b in model.features.named_children() if n.startswith("denseblock")] == [
        16,
        16,
        16,
    ]


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_model("densenet_paper", s).features.conv0.weight for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)


# -------------------------------------------------------------------- data
def test_subsets_are_fixed_random_and_normalisation_is_per_channel():
    x = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 3, 2, 2).clone()
    y = torch.arange(100) // 10  # sorted by class, like the JPEG re-encoding
    cpu = torch.device("cpu")
    first = Split.from_uint8(x, y, cpu, size=30)
    again = Split.from_uint8(x, y, cpu, size=30)
    assert torch.equal(first.y, again.y)
    assert len(first.y.unique()) > 3  # not the first 30 (three classes)
    norm = Split.from_uint8(x, y, cpu, normalize={"mean": [0.5, 0.0, 0.0], "std": [0.5, 1, 2]})
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
    uninterrupted = train_run("densenet_paper", optimizer, 0, cifar_config, *cifar_splits)
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
        train_run("densenet_paper", optimizer, 0, cifar_config, *cifar_splits, checkpoint)
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 2
    monkeypatch.setattr(train_module, "evaluate", real_log)
    resumed = train_run("densenet_paper", optimizer, 0, cifar_config, *cifar_splits, checkpoint)
    pd.testing.assert_frame_equal(
        resumed.drop(columns="wall_time"), uninterrupted.drop(columns="wall_time")
    )
    if optimizer in ("fuse_pv_epoch", "adam_sgd"):
        assert resumed["phase"].iloc[-1] != resumed["phase"].iloc[1]


def test_run_grid_resumes_from_checkpoints_and_removes_them(cifar_config, cifar_splits, tmp_path):
    config = dict(cifar_config, optimizers=["adam"])
    runs = tmp_path / "runs"
    log = train_module.run_grid(config, *cifar_splits, runs, data_id="fake")
    assert len(log) == config["epochs"] + 1
    assert list((tmp_path / "checkpoints").iterdir()) == []  # done with


# -------------------------------------------------------------------- options
def test_bf16_autocast_and_channels_last_train_with_float32_state(cifar_config, cifar_splits):
    config = dict(cifar_config, bf16=True, channels_last=True, epochs=1)
    plain = train_run("densenet_paper", "adam", 0, dict(cifar_config, epochs=1), *cifar_splits)
    fast = train_run("densenet_paper", "adam", 0, config, *cifar_splits)
    assert fast["train_loss"].notna().all()
    assert fast["train_loss"].iloc[0] == pytest.approx(plain["train_loss"].iloc[0], rel=1e-5)
    assert fast["train_loss"].iloc[-1] == pytest.approx(plain["train_loss"].iloc[-1], rel=0.05)


# -------------------------------------------------------------------- torchrun
def write_experiment(tmp_path, experiment, channels, size, model, processes):
    """The settings of ``experiment`` (quick block, shrunk) that train ``model`` in
    ``processes`` processes, and a prepared dir with random images for them."""
    prepared = tmp_path / "prepared"
    prepared.mkdir(exist_ok=True)
    x, y = images(192, channels, size, seed=1)
    torch.save(
        {"train_x": x[:128], "train_y": y[:128], "test_x": x[128:], "test_y": y[128:]},
        prepared / f"{experiment}.pt",
    )
    (prepared / "manifest.json").write_text(
        json.dumps({experiment: {"source": "random", "files": {}}})
    )
    block = resolve(load(ROOT / "params.yaml"), experiment)
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
    tmp_path, experiment, channels, size, model, exact
):
    """Each process takes half of every batch; gradients, losses and evaluation sums are
    averaged over both. Without batch norm that is one process's computation up to the
    order of floating-point sums; with it (per-process statistics on CPUs, synchronised
    on GPUs) the curves agree within noise."""
    runs = tmp_path / "runs"
    one = run_experiment(*write_experiment(tmp_path, experiment, channels, size, model, 1), runs)
    two = run_experiment(*write_experiment(tmp_path, experiment, channels, size, model, 2), runs)
    assert len(list(runs.iterdir())) == 6  # the 1-process runs stay beside the 2-process ones
    counts = ["optimizer", "epoch", "step"] + (["closure_evals", "phase"] if exact else [])
    pd.testing.assert_frame_equal(two[counts], one[counts])
    tolerance = 1e-4 if exact else 0.15
    pd.testing.assert_frame_equal(
        two[["train_loss", "test_loss"]], one[["train_loss", "test_loss"]], rtol=tolerance, atol=0.0
    )
