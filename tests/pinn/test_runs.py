"""The physics-informed study's runs (fuse_repro.pinn.runs): same network and points per
seed, rows at a fixed cadence of evaluations, the budget, stops on convergence and
divergence, and the run store (read back, never retrained)."""

import pandas as pd
import pytest
import torch

from fuse_repro.core.variants import Variant
from fuse_repro.pinn import runs as pinn

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_seed_fixes_the_network_and_the_points(settings):
    problem = pinn.PROBLEMS["burgers"]
    first, again = (pinn.TanhNetwork(problem, 8, 2, seed=0) for _ in range(2))
    other = pinn.TanhNetwork(problem, 8, 2, seed=1)
    for a, b in zip(first.parameters(), again.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(first.layers[0].weight, other.layers[0].weight)
    points = pinn.training_points(problem, settings, 0)
    assert set(points) == {"residual", *problem.conditions}
    assert torch.equal(points["residual"], pinn.training_points(problem, settings, 0)["residual"])
    assert not torch.equal(
        points["residual"], pinn.training_points(problem, settings, 1)["residual"]
    )


def test_rows_come_at_a_fixed_cadence_of_evaluations_within_the_budget(settings):
    adam = pinn.train_run("convection", Variant("adam"), 0, settings)
    assert list(adam.columns) == pinn.LOG_COLUMNS
    assert adam["evals"].tolist() == list(range(0, 61, 10))  # one evaluation per Adam step
    assert adam["wall_time"].is_monotonic_increasing and (adam["phase"] == "adam").all()
    lbfgs = pinn.train_run("convection", Variant("lbfgs"), 0, settings)
    marks = (lbfgs["evals"].iloc[1:] // 10).tolist()
    assert marks == sorted(set(marks))  # at most one row per cadence mark
    assert lbfgs["evals"].iloc[-2] < 60 <= lbfgs["evals"].iloc[-1]  # stops at the budget


def test_a_hand_switch_moves_to_lbfgs_after_its_adam_steps(settings):
    log = pinn.train_run("helmholtz", Variant("fuse_pv_epoch", {"switch_epoch": 2}), 0, settings)
    assert log["switch_step"].dropna().unique().tolist() == [20]
    assert log.loc[log["evals"] <= 20, "phase"].eq("adam").all()
    assert log["phase"].iloc[-1] == "lbfgs"


def test_the_same_run_logs_the_same_numbers(settings):
    first, again = (
        pinn.train_run("burgers", Variant("fuse", {"theta": 0.5}), 1, settings) for _ in range(2)
    )
    pd.testing.assert_frame_equal(first.drop(columns="wall_time"), again.drop(columns="wall_time"))


class Stub:
    """An optimizer that evaluates the closure ``evaluations`` times per step and then, if
    ``poison``, puts a NaN in the network."""

    phase, counters = "stub", {}

    def __init__(self, params, evaluations, poison):
        self.params, self.evaluations, self.poison = list(params), evaluations, poison

    def step(self, closure):
        loss = None
        for _ in range(self.evaluations):
            loss = closure()
        if self.poison:
            with torch.no_grad():
                self.params[0].view(-1)[0] = float("nan")
        return loss if loss is not None else torch.zeros(())

    def zero_grad(self):
        pass

    def end_epoch(self, loss):
        pass


@pytest.mark.parametrize("evaluations, poison", [(0, False), (1, True)])
def test_a_run_ends_at_convergence_or_divergence(settings, monkeypatch, evaluations, poison):
    monkeypatch.setattr(
        pinn, "build_optimizer", lambda name, params, s, **kw: Stub(params, evaluations, poison)
    )
    log = pinn.train_run("convection", Variant("adam"), 0, settings)
    assert log["step"].tolist() == [0, 1]  # the start, then the one step that ended it
    assert log["evals"].tolist() == [0, evaluations]


def test_runs_are_stored_and_read_back_without_training(settings, tmp_path, monkeypatch):
    settings.update(problems=["convection"], optimizers=["adam"], switch_epochs=[2], thetas=[])
    log = pinn.run_grid(settings, tmp_path)
    assert len(list(tmp_path.glob("*.csv.gz"))) == len(pinn.grid(settings)) == 4
    monkeypatch.setattr(pinn, "train_run", lambda *a: pytest.fail("trained a stored run"))
    pd.testing.assert_frame_equal(pinn.run_grid(settings, tmp_path), log)
    (next(tmp_path.glob("convection__adam__seed0*"))).unlink()
    settings["missing_runs"] = "report"
    reported = pinn.run_grid(settings, tmp_path)
    assert reported.groupby(["variant", "seed"]).ngroups == 3  # the missing one not trained


def test_a_stored_file_of_another_run_is_set_aside(settings, tmp_path):
    settings.update(
        problems=["convection"], optimizers=["adam"], switch_epochs=[2], thetas=[], seeds=[0]
    )
    pinn.run_grid(settings, tmp_path)
    adam = next(tmp_path.glob("convection__adam__*"))
    switch = next(tmp_path.glob("convection__fuse_pv_epoch*"))
    adam.write_bytes(switch.read_bytes())
    pinn.run_grid(settings, tmp_path)
    assert len(list(tmp_path.glob("*.damaged"))) == 1
