"""The optimizer registry: one entry per optimizer, read by the params schema, the run
identity, training and the summaries; every optimizer behind the same interface."""

import pytest
import torch

from fuse_repro.core import optimizers as O
from fuse_repro.image.runs import run_key
from fuse_repro.image.settings import schema
from fuse_repro.params import load, resolve
from fuse_repro.toy.settings import SCHEMA as TOY_SCHEMA


@pytest.fixture(scope="module")
def settings(request):
    return resolve(load(request.config.rootpath / "params.yaml"), "fashion_mnist", "quick")


def test_every_entry_is_complete():
    for name, spec in O.REGISTRY.items():
        assert spec.name == name and spec.label and spec.settings
        assert spec.family in ("first-order", "second-order", "hybrid")
        assert set(spec.families) <= set(O.FAMILIES)
        assert spec.switch in (None, "epoch", "gradient", "loss")
        assert spec.build is not None or spec.families == ("toy",)  # scipy: run by the toy study
    assert O.LABELS["fuse_pv_epoch"] == "FUSE-PV (epoch)"


def test_the_params_schema_is_read_from_the_registry():
    image = schema("fashion_mnist")
    assert image["optimizers"].item.options == O.names("image")
    assert {"sgd", "adam", "lbfgs", "adam_sgd", *O.FUSE_PV_RULES} <= set(O.names("image"))
    assert TOY_SCHEMA["optimizers"].item.options == O.names("toy")
    for family, block_schema in (("image", image), ("toy", TOY_SCHEMA)):
        for name in O.names(family):
            for block, spec in O.REGISTRY[name].settings.items():
                assert block_schema[block] is spec  # one schema per block, from the entry


def test_a_run_depends_on_its_own_optimizers_settings_only(settings):
    changed = dict(settings, sgd={"lr": 0.5})
    for name in O.names("image"):
        run = ("cnn", name, 0)
        same = run_key(settings, run, "data", "cpu") == run_key(changed, run, "data", "cpu")
        assert same == ("sgd" not in O.REGISTRY[name].settings), name


@pytest.mark.parametrize("name", O.names("image"))
def test_every_optimizer_has_the_same_interface(name, settings):
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = O.build_optimizer(name, [weight], settings)

    def closure():
        optimizer.zero_grad()
        loss = (weight**2).sum()
        loss.backward()
        return loss

    phases = {optimizer.phase}
    for _ in range(settings["adam_sgd"]["switch_epoch"] + 1):
        optimizer.step(closure)
        optimizer.end_epoch(float(closure().detach()))
        phases.add(optimizer.phase)
    assert set(optimizer.counters) <= set(O.COUNTERS)
    spec = O.REGISTRY[name]
    if spec.switch == "epoch":
        assert len(phases) == 2 and optimizer.counters["switch_epoch"] is not None
    state = optimizer.state_dict()
    again = O.build_optimizer(name, [weight], settings)
    again.load_state_dict(state)
    assert again.phase == optimizer.phase


def test_fuse_reports_every_counter_and_unknown_names_are_refused(settings):
    fuse = O.build_optimizer("fuse_pv_loss", [torch.nn.Parameter(torch.ones(2))], settings)
    assert tuple(fuse.counters) == O.COUNTERS
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        O.build_optimizer("adamw", [torch.nn.Parameter(torch.ones(2))], settings)
    with pytest.raises(ValueError, match="unknown optimizer 'scipy'"):
        O.build_optimizer("scipy", [torch.nn.Parameter(torch.ones(2))], settings)


def test_a_torch_builder_passes_its_block_as_keyword_arguments():
    build = O.torch_builder(torch.optim.NAdam, "nadam")
    optimizer = build([torch.nn.Parameter(torch.ones(2))], {"nadam": {"lr": 0.25}})
    assert isinstance(optimizer.optimizer, torch.optim.NAdam) and optimizer.phase == "nadam"
    assert optimizer.optimizer.defaults["lr"] == 0.25


def test_the_official_variant_picks_lbfgs_or_adam_by_the_batch_loss_after_its_adam_epochs():
    official = {
        "lr": 0.1,
        "lbfgs_lr": 1.0,
        "history_size": 5,
        "max_iter": 3,
        "max_eval": 4,
        "adam_epochs": 1,
        "loss_threshold": 1.0,
    }
    weight = torch.nn.Parameter(torch.tensor([2.0, 0.0]))
    optimizer = O.build_optimizer("fuse_pv_official", [weight], {"fuse_pv_official": official})
    calls = []

    def closure():
        calls.append(1)
        optimizer.zero_grad()
        loss = (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)  # epoch 1: Adam, one evaluation, whatever the loss
    assert len(calls) == 1 and optimizer.phase == "adam"
    assert not optimizer.trains_model_in_eval_mode(1)
    optimizer.end_epoch(0.0)
    assert optimizer.phase == "mixed" and optimizer.trains_model_in_eval_mode(2)
    optimizer.step(closure)  # loss 3.24 >= 1: an Adam step from that one evaluation
    assert len(calls) == 2 and optimizer.counters == {"lbfgs_iterations": 0}
    with torch.no_grad():
        weight.copy_(torch.tensor([0.5, 0.0]))
    optimizer.step(closure)  # loss 0.25 < 1: L-BFGS, which evaluates again
    assert len(calls) > 3 and optimizer.counters == {"lbfgs_iterations": 1}
    assert optimizer.lbfgs.state_dict()["state"]  # torch's L-BFGS state persists

    again = O.build_optimizer("fuse_pv_official", [weight], {"fuse_pv_official": official})
    again.load_state_dict(optimizer.state_dict())
    assert again.phase == "mixed" and again.counters == optimizer.counters
