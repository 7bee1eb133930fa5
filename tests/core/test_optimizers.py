"""The optimizer registry: one entry per optimizer, read by the params schema, the run
identity, training and the summaries; every optimizer behind the same interface."""

import math

import pytest
import torch

from fuse import FUSE, SWITCH_RULES
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
        assert spec.switch in (None, *SWITCH_RULES)
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
    changed = dict(settings, sgd=dict(settings["sgd"], lr=0.5))
    for name in O.names("image"):
        run = ("cnn", name, 0)
        same = run_key(settings, run, "data", "cpu") == run_key(changed, run, "data", "cpu")
        assert same == ("sgd" not in O.REGISTRY[name].settings), name


def test_a_key_added_later_enters_a_runs_identity_only_at_another_value(settings):
    for block, keys in O.LATER_KEYS.items():
        for key, earlier in keys.items():
            without = dict(settings, **{block: {**settings[block]}})
            del without[block][key]  # the settings as they were before the key existed
            other = dict(settings, **{block: {**settings[block], key: earlier + 0.5}})
            at_earlier = dict(settings, **{block: {**settings[block], key: earlier}})
            for name in O.names("image"):
                if block in O.REGISTRY[name].settings:
                    run = ("cnn", name, 0)
                    keys_of = [run_key(s, run, "data", "cpu") for s in (without, at_earlier, other)]
                    assert keys_of[0] == keys_of[1] != keys_of[2], (name, key)


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
        loss = float(closure().detach())
        optimizer.end_epoch(loss, loss)  # the training and the validation loss
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


def quadratic_closure(optimizer, weight):
    def closure():
        optimizer.zero_grad()
        loss = (weight**2).sum()
        loss.backward()
        return loss

    return closure


def test_adam_decay_multiplies_the_rate_at_fuse_pvs_switch_epoch(settings):
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = O.build_optimizer("adam_decay", [weight], settings)
    closure = quadratic_closure(optimizer, weight)
    rates = []
    for _ in range(settings["fuse_pv"]["switch_epoch"] + 2):
        rates.append(optimizer.optimizer.param_groups[0]["lr"])
        optimizer.step(closure)
        optimizer.end_epoch(0.0)
    switch, lr = settings["fuse_pv"]["switch_epoch"], settings["adam"]["lr"]
    decayed = lr * settings["adam_decay"]["factor"]
    assert rates == [lr] * switch + [pytest.approx(decayed)] * 2
    again = O.build_optimizer("adam_decay", [weight], settings)
    again.load_state_dict(optimizer.state_dict())
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(decayed)


def test_sgd_cosine_anneals_the_rate_over_the_epochs_and_resumes_on_its_schedule(settings):
    """Epoch e of E runs at lr (1 + cos(pi e / E)) / 2, with the sgd block's momentum."""
    tuned = settings | {"sgd": {"lr": 0.2, "momentum": 0.9}, "epochs": 4}
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = O.build_optimizer("sgd_cosine", [weight], tuned)
    closure = quadratic_closure(optimizer, weight)
    rates = []
    for _ in range(tuned["epochs"]):
        rates.append(optimizer.optimizer.param_groups[0]["lr"])
        optimizer.step(closure)
        optimizer.end_epoch(0.0)
    expected = [0.2 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert rates == pytest.approx(expected) and optimizer.phase == "sgd"
    assert optimizer.optimizer.param_groups[0]["momentum"] == 0.9
    again = O.build_optimizer("sgd_cosine", [weight], tuned)
    again.load_state_dict(optimizer.state_dict())
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)  # epoch 4 of 4
    assert again.optimizer.state_dict() == optimizer.optimizer.state_dict()


def test_same_batch_lbfgs_is_fuse_with_theta_zero_and_the_lbfgs_blocks_settings(settings):
    steps = {}
    for kind in ("registry", "direct"):
        weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        if kind == "registry":
            optimizer = O.build_optimizer("lbfgs_same_batch", [weight], settings)
            assert optimizer.phase == "lbfgs"
        else:
            lbfgs = settings["lbfgs"]
            optimizer = FUSE(
                [weight],
                theta=0.0,
                lbfgs_lr=lbfgs["lr"],
                history_size=lbfgs["history_size"],
                max_iter=lbfgs["max_iter"],
                max_eval=lbfgs["max_eval"],
            )
        optimizer.step(quadratic_closure(optimizer, weight))
        steps[kind] = weight.detach().clone()
    assert torch.equal(steps["registry"], steps["direct"])


def test_sgd_momentum_reaches_torch_sgd_and_the_sgd_phase_of_adam_sgd(settings):
    with_momentum = dict(settings, sgd=dict(settings["sgd"], momentum=0.9))
    for name in ("sgd", "adam_sgd"):
        optimizer = O.build_optimizer(name, [torch.nn.Parameter(torch.ones(2))], with_momentum)
        sgd = optimizer.sgd if name == "adam_sgd" else optimizer.optimizer
        assert sgd.defaults["momentum"] == 0.9


def test_the_validation_loss_rule_watches_the_validation_loss_and_needs_it(settings):
    rule = dict(settings["fuse_pv"], warmup_epochs=0, patience=1, min_delta=0.0)
    watching = dict(settings, fuse_pv=rule)
    optimizer = O.build_optimizer("fuse_pv_val_loss", [torch.nn.Parameter(torch.ones(2))], watching)
    optimizer.end_epoch(1.0, 1.0)
    optimizer.end_epoch(0.5, 1.0)  # the training loss improves, the validation loss does not
    assert optimizer.phase == "lbfgs"
    with pytest.raises(ValueError, match="validation_size"):
        O.build_optimizer(
            "fuse_pv_val_loss", [torch.nn.Parameter(torch.ones(2))], watching
        ).end_epoch(1.0)
