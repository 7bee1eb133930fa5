"""Declared sweeps: their points (grids and quasi-random ranges), the checks that name a
bad key, and a tiny sweep run, read back and summarised."""

import json

import numpy as np
import pandas as pd
import pytest

from fuse_repro.core.paths import sweep_dir, sweep_metrics_path
from fuse_repro.core.schema import ParamsError
from fuse_repro.image import sweeps
from fuse_repro.image.plots import learning_curves, plotted_setting, sweep_figure
from fuse_repro.image.report import (
    answers_items,
    default_vs_tuned_items,
    regret_items,
    sweep_section,
    tuned_items,
)
from fuse_repro.image.runs import Splits
from fuse_repro.params import load, resolve_sweep
from tests.helpers import ROOT, synthetic_splits

RANGE = {"low": 1.0e-4, "high": 1.0e-1, "log": True}


def sweep_of(optimizers, trials=4, defaults=False):
    return {"optimizers": optimizers, "trials": trials, "seed": 0, "defaults": defaults}


SPACES = {
    "adam": {"adam.lr": RANGE},
    "sgd": {"sgd.lr": RANGE, "sgd.momentum": [0.0, 0.9]},
    "fuse_pv_epoch": {"fuse_pv.switch_epoch": [1, 2], "fuse_pv.history_size": [5, 9]},
    "lbfgs": {},
}


def test_lists_combine_and_ranges_give_the_same_number_of_trials_per_optimizer():
    found = sweeps.points(sweep_of(SPACES))
    per_optimizer = pd.Series([p.optimizer for p in found]).value_counts().to_dict()
    assert per_optimizer == {"adam": 4, "sgd": 8, "fuse_pv_epoch": 4, "lbfgs": 1}
    rates = [dict(p.values)["adam.lr"] for p in found if p.optimizer == "adam"]
    assert all(1.0e-4 <= r <= 1.0e-1 for r in rates) and len(set(rates)) == 4
    assert np.ptp(np.log10(rates)) > 1.0  # spread over the decades, not bunched
    assert [p.key for p in found] == [p.key for p in sweeps.points(sweep_of(SPACES))]
    assert "lbfgs" in [p.key for p in found]
    with_defaults = sweeps.points(sweep_of(SPACES, defaults=True))
    configured = [p.key for p in with_defaults if not p.values]
    assert configured == ["adam", "sgd", "fuse_pv_epoch", "lbfgs"]
    assert len(with_defaults) == len(found) + 3  # lbfgs, run as configured anyway, once


def test_a_range_of_integers_samples_integers():
    sizes = {"lbfgs.history_size": {"low": 3, "high": 30, "log": True}}
    found = sweeps.points(sweep_of({"lbfgs": sizes}))
    sizes = [dict(p.values)["lbfgs.history_size"] for p in found]
    assert all(isinstance(s, int) and 3 <= s <= 30 for s in sizes)


def test_a_point_changes_a_copy_of_the_settings_and_runs_only_its_optimizer():
    base = {"optimizers": ["adam", "sgd"], "adam": {"lr": 0.001}, "batch_norm_updates": "a"}
    point = sweeps.Point("adam", (("adam.lr", 0.01), ("batch_norm_updates", "b")))
    applied = point.applied_to(base)
    assert applied["adam"] == {"lr": 0.01} and applied["batch_norm_updates"] == "b"
    assert applied["optimizers"] == ["adam"] and base["adam"] == {"lr": 0.001}
    assert point.key == "adam adam.lr=0.01 batch_norm_updates=b"
    assert sweeps.label(point.key) == "Adam (adam.lr=0.01 batch_norm_updates=b)"


@pytest.mark.parametrize(
    "space,message",
    [
        ({"adam.lrr": [0.1]}, "optimizers.adam.adam.lrr: no such setting"),
        ({"seeds": [1]}, "optimizers.adam.seeds: a sweep's points cannot change seeds"),
        ({"adam.lr": []}, "expected a list of values or a range"),
        ({"adam.lr": {"low": 1.0, "high": 0.1, "log": False}}, "needs low < high"),
        ({"adam.lr": {"low": 0.0, "high": 0.1, "log": True}}, "and low > 0 (log)"),
        ({"adam.lr": {"low": 0.1, "high": 1.0}}, "exactly the keys low, high, log"),
    ],
)
def test_a_bad_sweep_names_its_key(space, message):
    base = {"adam": {"lr": 0.001}, "seeds": [0]}
    with pytest.raises(ParamsError, match="sweeps.s.optimizers.adam") as error:
        sweeps.check(sweep_of({"adam": space}), base, "sweeps.s")
    assert message in str(error.value)


def test_every_committed_sweep_resolves_with_its_points_checked():
    params = load(ROOT / "params.yaml")
    for name in params["sweeps"]:
        settings, found = resolve_sweep(params, name)
        assert settings["sweep"] == name and settings["missing_runs"] == "report"
        assert len({p.key for p in found}) == len(found) > 0
    with pytest.raises(ParamsError, match="sweeps.nothing: no such sweep"):
        resolve_sweep(params, "nothing")


def test_the_sensitivity_is_drawn_against_the_learning_rate_the_default_at_its_own(resolved):
    settings = resolved("fashion_mnist")
    space = {"fuse_pv.history_size": [5, 9], "fuse_pv.lr": RANGE}
    found = sweeps.points(sweep_of({"fuse_pv_epoch": space, "adam": {}}, trials=2, defaults=True))
    values = sweeps.values_table(found, settings)
    default = values.set_index("point").loc["fuse_pv_epoch"]
    assert default["fuse_pv.lr"] == settings["fuse_pv"]["lr"]
    assert default["fuse_pv.history_size"] == settings["fuse_pv"]["history_size"]
    assert len(values) == 1 + 2 * 2 + 1  # FUSE-PV's default, its 2 x 2 points, Adam
    assert values.loc[values["optimizer"] == "fuse_pv_epoch", "fuse_pv.lr"].notna().all()
    assert plotted_setting(values, "fuse_pv_epoch") == "fuse_pv.lr"  # not the first swept
    assert plotted_setting(values, "adam") is None  # run once as configured


@pytest.fixture(scope="module")
def tiny_sweep(resolved, tmp_path_factory):
    """Two Adam rates and FUSE-PV (epoch) as configured, two seeds, an MLP, on synthetic
    images with a validation split; run once (trained), as (settings, points, splits, log,
    runs folder)."""
    settings = resolved("fashion_mnist")
    settings.update(epochs=2, batch_size=32, seeds=[0, 1], models=["mlp"], missing_runs="train")
    settings["confirm_seeds"] = [2, 3]
    found = sweeps.points(sweep_of({"adam": {"adam.lr": [1.0e-3, 1.0e-2]}, "fuse_pv_epoch": {}}))
    plain = synthetic_splits((28, 28), n_train=96, n_test=32)
    splits = Splits(plain.train, plain.test, plain.test)
    runs = tmp_path_factory.mktemp("sweep") / "runs"
    log = sweeps.run_points(settings, found, splits, runs, "synthetic")
    return settings, found, splits, log, runs


def test_a_sweep_is_summarised_by_its_best_point_and_paired_gaps(tiny_sweep, tmp_path):
    settings, found, _, log, _ = tiny_sweep
    assert set(log["point"]) == {p.key for p in found}
    tables = sweeps.write_summaries(
        log, log.iloc[:0], found, settings, tmp_path, tmp_path / "metrics.json"
    )
    table = tables["points"]
    assert len(table) == 3 and table["best"].sum() == 1
    best = table[table["best"]].iloc[0]
    assert best["gap_to_best"] == 0.0 and best["score"] == table["score"].max()
    finals = sweeps.final_rows(log)
    for row in table.itertuples():
        mine = finals[finals["point"] == row.point].set_index("seed")["score"]
        theirs = finals[finals["point"] == best["point"]].set_index("seed")["score"]
        assert row.gap_to_best == pytest.approx((mine - theirs).mean())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    last_rows = log.sort_values("epoch").groupby(["point", "model", "optimizer", "seed"]).tail(1)
    assert metrics["runs"] == {
        "stored": 6,
        "expected": 6,
        "training_seconds": round(last_rows["wall_time"].sum(), 1),
    }
    assert metrics["confirmation"] == {"stored": 0, "expected": 4, "training_seconds": 0.0}
    assert metrics["scored_on"] == "validation"
    adam = metrics["chosen"]["mlp"]["adam"]
    adam_rows = table[table["optimizer"] == "adam"]
    assert adam["point"] == adam_rows.loc[adam_rows["score"].idxmax(), "point"]
    assert adam["values"] == dict(next(p for p in found if p.key == adam["point"]).values)
    figure = sweep_figure(finals, sweeps.values_table(found, settings), "tiny", tmp_path / "s.png")
    assert figure.stat().st_size > 0


def test_a_sweep_reads_its_runs_back_and_names_the_missing_ones(tiny_sweep, tmp_path):
    settings, found, splits, log, runs = tiny_sweep
    reporting = dict(settings, missing_runs="report")
    again = sweeps.run_points(reporting, found, splits, runs, "synthetic")
    pd.testing.assert_frame_equal(again, log)
    extra = found + [sweeps.Point("adam", (("adam.lr", 0.1),))]
    partial = sweeps.run_points(reporting, extra, splits, runs, "synthetic")
    assert len(partial) == len(log)  # the new point is missing, not trained
    tables = sweeps.write_summaries(
        partial, partial.iloc[:0], extra, reporting, tmp_path, tmp_path / "m.json"
    )
    counts = json.loads((tmp_path / "m.json").read_text())["runs"]
    assert (counts["stored"], counts["expected"]) == (6, 8)
    assert len(tables["points"]) == 3
    assert list(tables["declared"]["point"]) == [p.key for p in extra]
    none = tmp_path / "none"  # no run at all: the declared points still make a file for git
    sweeps.write_summaries(log.iloc[:0], log.iloc[:0], extra, reporting, none, tmp_path / "n.json")
    assert sorted(p.name for p in none.iterdir()) == ["declared.csv"]


def test_the_chosen_points_run_again_on_the_confirmation_seeds_and_are_compared(
    tiny_sweep, tmp_path
):
    settings, found, splits, log, runs = tiny_sweep
    choice = sweeps.chosen(sweeps.point_table(log, found), found)
    again = sweeps.confirmation_points(choice)
    assert [p.model for p in again] == ["mlp", "mlp"]
    assert {p.key for p in again} == {f"mlp: {choice['mlp'][o]['point']}" for o in choice["mlp"]}
    confirming = dict(settings, seeds=settings["confirm_seeds"])
    confirmation = sweeps.run_points(confirming, again, splits, runs, "synthetic")
    assert sorted(set(confirmation["seed"])) == [2, 3]
    tables = sweeps.write_summaries(
        log, confirmation, found, settings, tmp_path, tmp_path / "m.json"
    )
    metrics = json.loads((tmp_path / "m.json").read_text())
    confirmed = metrics["confirmation"]
    assert (confirmed["stored"], confirmed["expected"]) == (4, 4)
    comparison = tables["comparison"]
    assert set(comparison["ours"]) == {"fuse_pv_epoch"} and set(comparison["reference"]) == {"adam"}
    assert list(comparison["measure"]) == ["final epoch", "closure evaluations", "seconds"]
    finals = confirmation[confirmation["epoch"] == confirmation["epoch"].max()]
    by = finals.set_index(["optimizer", "seed"])["test_accuracy"]
    expected = (by["fuse_pv_epoch"] - by["adam"]).mean()
    assert comparison.iloc[0]["difference"] == pytest.approx(expected)
    partial = confirmation[confirmation["optimizer"] == "adam"]  # FUSE-PV's runs not stored yet
    out = tmp_path / "partial"
    tables = sweeps.write_summaries(log, partial, found, settings, out, tmp_path / "p.json")
    assert "comparison" not in tables and not (out / "comparison.csv").exists()
    assert (out / "confirmation_log.csv").is_file() and (out / "time_to_target.csv").is_file()


def test_time_to_target_is_the_first_scoring_at_the_references_median_misses_infinite():
    """Target 0.8 (the median of Adam's final validation scores 0.7, 0.8, 0.9); a run's
    time is its first row at or above it; SGD reaches it in one seed of three: its median
    is infinite."""
    rows = []
    for seed, (adam_curve, sgd_curve) in enumerate(
        [((0.5, 0.7), (0.6, 0.85)), ((0.8, 0.8), (0.5, 0.6)), ((0.85, 0.9), (0.5, 0.5))]
    ):
        for optimizer, curve in (("adam", adam_curve), ("sgd", sgd_curve)):
            for epoch, score in enumerate(curve, start=1):
                rows.append(
                    dict(
                        point=f"mlp: {optimizer}",
                        model="mlp",
                        optimizer=optimizer,
                        seed=seed,
                        epoch=epoch / 2 if epoch == 1 else 1,  # a cadence row, then epoch 1
                        val_accuracy=score,
                        test_accuracy=0.0,
                        charged_evals=10 * epoch,
                        wall_time=1.5 * epoch,
                    )
                )
    table = sweeps.time_to_target_table(pd.DataFrame(rows)).set_index("optimizer")
    assert table.loc["adam", "target"] == pytest.approx(0.8)
    assert table.loc["adam", "seeds_reached"] == 2 and table.loc["sgd", "seeds_reached"] == 1
    assert table.loc["adam", "evals_to_target"] == 10  # seeds: inf, 10, 10
    assert table.loc["adam", "seconds_to_target"] == 1.5
    late = pd.DataFrame(rows).assign(
        val_accuracy=lambda f: f["val_accuracy"].where(
            f["optimizer"] == "adam", 0.95 * (f["epoch"] == 1)
        )
    )  # SGD reaches it at epoch 1 only
    assert (
        sweeps.time_to_target_table(late).set_index("optimizer").loc["sgd", "evals_to_target"] == 20
    )
    assert table.loc["sgd", "evals_to_target"] == np.inf and table.loc["sgd", "seeds"] == 3
    assert sweeps.time_to_target_table(pd.DataFrame(rows), reference="lbfgs").empty
    even = pd.DataFrame(rows)
    even = even[even["seed"] > 0]  # Adam's finals 0.8, 0.9: the lower median, one reached
    table = sweeps.time_to_target_table(even).set_index("optimizer")
    assert table.loc["adam", "target"] == pytest.approx(0.8)
    assert table.loc["adam", "seeds_reached"] == 2 and table.loc["adam", "evals_to_target"] == 10


def test_each_optimizer_as_configured_is_set_against_its_tuned_point(tmp_path):
    """Adam as configured scores 0.80, 0.82; its rate 0.01 scores 0.85, 0.86 (tuned, gain
    +0.045) and 0.001 scores 0.70, 0.71; SGD is only configured, so it has no row."""
    found = sweeps.points(
        sweep_of({"adam": {"adam.lr": [1.0e-2, 1.0e-3]}, "sgd": {}}, defaults=True)
    )
    scores = {"adam": (0.80, 0.82), "adam adam.lr=0.01": (0.85, 0.86)}
    scores |= {"adam adam.lr=0.001": (0.70, 0.71), "sgd": (0.5, 0.5)}
    log = pd.DataFrame(
        [
            dict(
                point=key,
                model="mlp",
                optimizer=key.split()[0],
                seed=seed,
                epoch=1,
                val_accuracy=score,
                test_accuracy=0.0,
                train_loss=1.0,
                closure_evals=10,
                wall_time=1.0,
                switch_epoch=np.nan,
            )
            for key, pair in scores.items()
            for seed, score in enumerate(pair)
        ]
    )
    assert sorted(p.key for p in found) == sorted(scores)
    (row,) = sweeps.default_vs_tuned(log, found).itertuples()
    assert (row.optimizer, row.tuned_point, row.seeds) == ("adam", "adam adam.lr=0.01", 2)
    assert row.default_score == pytest.approx(0.81) and row.tuned_score == pytest.approx(0.855)
    assert row.gain == pytest.approx(0.045) and row.gain_low < 0.045 < row.gain_high
    sweeps.write_summaries(
        log,
        log.iloc[:0],
        found,
        {"confirm_seeds": None, "models": ["mlp"], "seeds": [0, 1]},
        tmp_path,
        tmp_path / "m.json",
    )
    items = default_vs_tuned_items(tmp_path / "default_vs_tuned.csv", {"scored_on": "validation"})
    assert "| MLP     | Adam        |" in items[1] and "+0.0450 [" in items[1]
    assert " 0.81 | Adam (adam.lr=0.01) | " in items[1] and " 0.855 | " in items[1]


def test_the_report_shows_each_optimizers_best_point_and_the_tuned_comparison(tiny_sweep, tmp_path):
    settings, found, _, log, _ = tiny_sweep
    root, name = tmp_path, "tiny"
    out, metrics_file = sweep_dir(root, name), sweep_metrics_path(root, name)
    out.mkdir(parents=True)
    confirmation = _confirmation(tiny_sweep)
    (out / "figures").mkdir()
    (out / "figures" / "confirmation_cnn.png").write_bytes(b"stale")  # a model gone since
    sweeps.write_summaries(log, confirmation, found, settings, out, metrics_file)
    assert not (out / "figures" / "confirmation_cnn.png").exists()
    learning_curves(confirmation, "mlp", "tiny", out / "figures" / "confirmation_mlp.png")
    text = "\n".join(str(item) for item in sweep_section(name, settings, root))
    assert "Sweep tiny, MLP: the chosen points on the confirmation seeds, learning curves" in text
    assert "6 of 6 runs stored" in text and "4 of 4 runs stored" in text
    assert "points scored on the validation set at the final epoch" in text
    for optimizer in ("Adam", "FUSE-PV (epoch)"):
        assert f"| {optimizer}" in text
    assert text.count("| MLP ") == 3 + 1 + 2  # every point, 1 pair (3 measures), 2 targets
    assert "| final epoch " in text and "| at equal closure evaluations " in text
    assert "(epoch 2) " in text and " evaluations) " in text and " s) " in text
    assert text.count("(its optimizer's best)") == 2  # Adam's better rate, FUSE-PV's one point
    assert (
        "the lower one for an even number of seeds) final validation accuracy of tuned Adam" in text
    )
    tuned = "\n".join(str(item) for item in tuned_items(name, settings, root))
    assert "Tuned protocol ([Sweep tiny](#sweep-tiny)): each method at its point chosen on" in tuned
    assert "chosen on the validation set from 6 trial runs on seeds 0, 1 (as many" in tuned
    assert "columns as above. Training time" in tuned  # no eval_every: scored per epoch
    cadenced = "\n".join(map(str, tuned_items(name, dict(settings, eval_every=16), root)))
    assert "columns as above, but a run's time to target is its first scoring" in cadenced
    trained = f"trained on {settings['train_size']} training images with seeds 2, 3 (4 of 4 runs"
    assert trained in tuned
    assert "(CPU, summed over the runs" in tuned and tuned.count("| MLP ") == 2
    empty = "\n".join(sweep_section("nothing", settings, _no_runs(tmp_path / "x", "nothing")))
    assert "0 of 6 runs stored" in empty and "python -m fuse_repro.sweep nothing" in empty
    held_out = dict(settings, validation_size=500)
    text = "\n".join(map(str, sweep_section("nothing", held_out, tmp_path / "x")))
    assert "points scored on the validation set (500 training images held out)" in text
    assert "points scored on the test set" in empty  # no runs, no validation split


def _confirmation(tiny_sweep):
    """The tiny sweep's chosen points on its confirmation seeds (trained once, then read
    back from its runs folder)."""
    settings, found, splits, log, runs = tiny_sweep
    choice = sweeps.chosen(sweeps.point_table(log, found), found)
    confirming = dict(settings, seeds=settings["confirm_seeds"])
    return sweeps.run_points(
        confirming, sweeps.confirmation_points(choice), splits, runs, "synthetic"
    )


def test_the_answers_gather_each_tuned_comparison_and_each_oracle_sweeps_closest_rule(
    tiny_sweep, tmp_path
):
    settings, found, _, log, _ = tiny_sweep
    sweep_metrics_path(tmp_path, "tuned").parent.mkdir(parents=True)
    tables = sweeps.write_summaries(
        log,
        _confirmation(tiny_sweep),
        found,
        settings,
        sweep_dir(tmp_path, "tuned"),
        sweep_metrics_path(tmp_path, "tuned"),
    )
    oracle = oracle_table(gradient_gap=-0.03)
    sweep_dir(tmp_path, "oracle").mkdir()
    oracle.assign(best=oracle["gap_to_best"] == 0).to_csv(
        sweep_dir(tmp_path, "oracle") / "points.csv", index=False
    )
    swept = {"tuned": settings, "oracle": dict(settings, seeds=[0, 1]), "none": settings}
    _, tuned, _, switch = map(str, answers_items(swept, tmp_path))
    workload = f"| FashionMNIST MLP, {settings['scale']} scale "
    assert tuned.count(workload) == 1  # the tiny sweep tunes Adam only: no SGD, no L-BFGS
    measured = tables["comparison"].set_index("measure")
    for measure, budget in (("closure evaluations", " evaluations)"), ("seconds", " s)")):
        row = measured.loc[measure]
        cell = f"{row.outcome}: {row.difference:+.4f} [{row.low:+.4f}, {row.high:+.4f}] ("
        assert cell in tuned and budget in tuned
    assert "| 2, 3 " in tuned and "| Adam " in tuned and "[Sweep tuned](#sweep-tuned)" in tuned
    assert "final epoch" not in tuned.splitlines()[0]
    assert switch.count(workload.replace("MLP", "CNN")) == 1
    assert "| FUSE-PV (epoch) (fuse_pv.switch_epoch=1) | FUSE-PV (loss) " in switch
    assert "| -0.0200 [-0.0300, -0.0100] | 1 of 2 " in switch and "| 0, 1 " in switch
    assert answers_items({"none": settings}, tmp_path) == []


def test_a_one_seed_sweep_states_its_gaps_without_an_interval(tiny_sweep, tmp_path):
    settings, found, _, log, _ = tiny_sweep
    one_seed = dict(settings, seeds=[0], confirm_seeds=[])
    out, metrics_file = sweep_dir(tmp_path, "one"), sweep_metrics_path(tmp_path, "one")
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    sweeps.write_summaries(log[log["seed"] == 0], log.iloc[:0], found, one_seed, out, metrics_file)
    text = "\n".join(str(item) for item in sweep_section("one", one_seed, tmp_path))
    assert text.count("(1 seed)") == 3 and "nan" not in text


def _no_runs(root, name):
    sweep_metrics_path(root, name).parent.mkdir(parents=True)
    sweep_metrics_path(root, name).write_text('{"runs": {"stored": 0, "expected": 6}}')
    return root


def oracle_table(gradient_gap):
    """A point table of an oracle sweep on one model: FUSE-PV (epoch) switching after
    epoch 1 (best) or 2, Adam, and two switch rules as configured."""
    rows = [
        ("fuse_pv_epoch fuse_pv.switch_epoch=1", "fuse_pv_epoch", 1.0, 0.0, 2),
        ("fuse_pv_epoch fuse_pv.switch_epoch=2", "fuse_pv_epoch", 2.0, -0.01, 2),
        ("adam", "adam", np.nan, -0.03, 0),
        ("fuse_pv_gradient", "fuse_pv_gradient", np.nan, gradient_gap, 0),
        ("fuse_pv_loss", "fuse_pv_loss", np.nan, -0.02, 1),
    ]
    return pd.DataFrame(
        [
            {
                "model": "cnn",
                "point": point,
                "optimizer": optimizer,
                "fuse_pv.switch_epoch": epoch,
                "seeds": 2,
                "switched": switched,
                "gap_to_best": gap,
                "gap_low": gap - 0.01,
                "gap_high": gap + 0.01,
            }
            for point, optimizer, epoch, gap, switched in rows
        ]
    )


def test_each_switch_rules_regret_against_the_oracle_switch_is_stated():
    regrets = sweeps.rule_regrets(oracle_table(gradient_gap=-0.03))
    assert list(regrets["optimizer"]) == ["fuse_pv_loss", "fuse_pv_gradient"]  # closest first
    (line,) = regret_items(regrets)
    assert line.startswith("CNN: the switch rule closest to the oracle switch")
    assert "is FUSE-PV (loss), with regret -0.0200 [-0.0300, -0.0100]" in line
    assert "(seeds that switched: 1 of 2)" in line
    (tied,) = regret_items(sweeps.rule_regrets(oracle_table(gradient_gap=-0.02)))
    assert "CNN: the switch rules closest to the oracle switch (the best point) are, tied, " in tied
    assert "are, tied, FUSE-PV (gradient), FUSE-PV (loss), with regret -0.0200" in tied
    assert "switched: 0 of 2, 1 of 2" in tied
    tuned = oracle_table(-0.03)  # FUSE-PV (epoch) as configured beside its tuned points
    tuned.loc[len(tuned)] = {**tuned.loc[0], "point": "fuse_pv_epoch", "gap_to_best": -0.001}
    assert "fuse_pv_epoch" not in set(sweeps.rule_regrets(tuned)["optimizer"])
    no_oracle = oracle_table(-0.03).drop(columns="fuse_pv.switch_epoch")
    assert (
        sweeps.rule_regrets(no_oracle).empty and regret_items(sweeps.rule_regrets(no_oracle)) == []
    )
