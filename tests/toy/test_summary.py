"""The toy study's summaries (fuse_repro.toy.summary) of hand-made runs: budget, target,
success and switch per run, medians and quantiles, the ranking and the rule verdict."""

import math

import numpy as np
import pandas as pd

from fuse_repro.core.optimizers import FUSE_PV_RULES
from fuse_repro.toy import summary as toy_results


def _log(rows, variant="fuse_pv_epoch", start=0):
    """A hand-made run: (evals, gap, distance, phase) per step; FUSE-PV's ``switch_step``
    counter as the optimizer logs it (the step after which the phase changed, from the
    first row in the new phase on)."""
    frame = pd.DataFrame(rows, columns=["evals", "gap", "distance", "phase"])
    changed = (frame["phase"] != frame["phase"].iloc[0]).to_numpy()
    first = int(changed.argmax()) if changed.any() else None
    switch_step = [np.nan if first is None or i < first else first - 1 for i in range(len(frame))]
    return frame.assign(
        switch_step=switch_step,
        function="f",
        variant=variant,
        noise=0.0,
        start=start,
        step=range(len(frame)),
        wall_time=frame["evals"] / 100.0,
    )


def test_run_summary_reads_budget_target_success_and_switch(settings):
    settings = dict(settings, budget=10, target_gap=1e-8, success_tol=0.25)
    log = pd.concat(
        [
            _log(
                [
                    (0, 5.0, 2.0, "adam"),
                    (1, 1.0, 1.0, "adam"),
                    (2, 0.5, 0.5, "adam"),
                    (6, 1e-9, 0.1, "lbfgs"),
                    (12, 1e-12, 0.01, "lbfgs"),
                ]
            ),
            _log(
                [
                    (0, 5.0, 2.0, "adam"),
                    (5, 3.0, 1.0, "adam"),
                    (10, 0.2, 0.2, "adam"),
                    (15, 0.0, 0.0, "adam"),
                ],
                variant="adam",
            ),
        ]
    )
    summary = toy_results.run_summary(log, settings).set_index("variant")
    pv, adam = summary.loc["fuse_pv_epoch"], summary.loc["adam"]
    assert pv["final_gap"] == 1e-9 and pv["success"] and pv["final_evals"] == 6
    assert pv["evals_to_target"] == 6 and pv["time_to_target"] == 0.06
    assert pv["switch_evals"] == 2
    assert adam["final_gap"] == 0.2 and adam["success"] and adam["final_evals"] == 10
    assert math.isnan(adam["evals_to_target"])  # reached only after the budget
    assert math.isnan(adam["switch_evals"])


def test_median_to_target_counts_unreached_runs_as_never(settings):
    rows = [
        _log([(0, 1.0, 1.0, "adam"), (e, 0.0, 0.0, "adam")], "adam", start=i)
        for i, e in enumerate((3, 5))
    ]
    rows += [_log([(0, 1.0, 1.0, "adam"), (50, 1.0, 1.0, "adam")], "adam", start=i) for i in (2, 3)]
    cells = toy_results.cell_summary(toy_results.run_summary(pd.concat(rows), settings))
    assert cells["reached_target"].iloc[0] == 0.5
    assert math.isnan(cells["median_evals_to_target"].iloc[0])  # 2 of 4: the median is never
    rows.append(_log([(0, 1.0, 1.0, "adam"), (9, 0.0, 0.0, "adam")], "adam", start=4))
    cells = toy_results.cell_summary(toy_results.run_summary(pd.concat(rows), settings))
    assert cells["median_evals_to_target"].iloc[0] == 9  # 3, 5, 9, never, never


def test_gap_quantiles_are_step_functions_of_evaluations():
    log = pd.concat(
        [
            _log([(0, 8.0, 1, "adam"), (4, 2.0, 1, "adam"), (8, 1.0, 1, "adam")]),
            _log([(0, 4.0, 1, "adam"), (2, np.nan, 1, "adam")], start=1),
        ]
    )
    curves = toy_results.gap_quantiles(log, budget=8, points=9).set_index("evals")
    assert curves["q25"].tolist()[:2] == [4.0, 4.0]  # the lower of 4 and 8
    assert curves["median"].tolist()[:2] == [6.0, 6.0]
    assert curves.loc[4, "median"] == math.inf  # 2.0 and a run that left the finite numbers
    assert curves.loc[4, "q25"] == 2.0 and curves.loc[4, "q75"] == math.inf  # never NaN
    single = toy_results.gap_quantiles(log[log["start"] == 0], budget=8, points=9)
    assert single["median"].tolist() == [8.0] * 4 + [2.0] * 4 + [1.0]


def _cells(rows):
    return pd.DataFrame(
        rows,
        columns=[
            "function",
            "noise",
            "variant",
            "success_rate",
            "median_final_gap",
            "median_evals_to_target",
        ],
    )


def test_ranking_prefers_success_then_gap_then_evaluations():
    cells = _cells(
        [
            ("f", 0.0, "a", 0.5, 1e-3, np.nan),
            ("f", 0.0, "b", 1.0, 1e-2, np.nan),
            ("f", 0.0, "c", 1.0, 1e-12, 90.0),
            ("f", 0.0, "d", 1.0, 1e-10, 40.0),
        ]
    )
    assert toy_results.ranked(cells, 1e-8)["variant"].tolist() == ["d", "c", "b", "a"]


def test_rule_verdict_counts_wins_and_ties():
    rows = []
    for function, gaps in (
        ("f1", (1e-3, 1e-1, 1e-1)),
        ("f2", (1e-2, 1e-4, 1e-1)),
        ("f3", (1e-3, 1e-3, 1e-3)),
    ):
        rows += [(function, 0.0, rule, 1.0, gap, np.nan) for rule, gap in zip(FUSE_PV_RULES, gaps)]
    ranking = toy_results.rule_ranking(_cells(rows), 1e-8)
    assert ranking["winner"].tolist()[:2] == ["fuse_pv_epoch", "fuse_pv_gradient"]
    assert ranking["tied"].tolist() == [False, False, True]
    verdict = toy_results.rule_verdict(ranking)
    assert "FUSE-PV (epoch) 1, FUSE-PV (gradient) 1, FUSE-PV (loss) 0" in verdict
    assert "the epoch rule shares the most wins" in verdict
    epoch_wins = toy_results.rule_verdict(ranking.assign(winner="fuse_pv_epoch"))
    assert ": the epoch rule wins the most." in epoch_wins
    loss_wins = toy_results.rule_verdict(ranking.assign(winner="fuse_pv_loss"))
    assert "another rule wins more than the epoch rule" in loss_wins
    assert "decided by the paired sign tests in the claims table" in loss_wins


def test_performance_profiles_follow_dolan_and_more():
    """Three problems (starts); a solves them in 10, 20, never; b in 20, 10, never: on
    each solved problem one is best and the other needs twice its evaluations, and the
    problem nobody solves counts against both."""
    costs = {"a": [10.0, 20.0, np.nan], "b": [20.0, 10.0, np.nan]}
    summary = pd.DataFrame(
        [
            {"function": "f", "variant": v, "noise": 0.0, "start": s, "evals_to_target": c}
            for v, values in costs.items()
            for s, c in enumerate(values)
        ]
    )
    comparison = pd.DataFrame({"function": ["f", "f"], "variant": ["a", "b"], "noise": [0.0] * 2})
    profiles = toy_results.performance_profiles(summary, comparison)
    for variant in ("a", "b"):
        mine = profiles[profiles["variant"] == variant].set_index("tau")["fraction"]
        assert mine.to_dict() == {1.0: 1 / 3, 2.0: 2 / 3}
