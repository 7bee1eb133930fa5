"""The paper's claims on the test functions (fuse_repro.toy.claims)."""

import pandas as pd

from fuse_repro.core.statistics import NOT_SUPPORTED, SUPPORTED, UNDECIDED
from fuse_repro.toy import claims


def comparison(results: dict[str, list[float]]) -> pd.DataFrame:
    """Cells of ``variant -> success rate per function`` (everything else equal)."""
    return pd.DataFrame(
        [
            dict(
                function=f"f{i}",
                variant=variant,
                noise=0.0,
                starts=100,
                success_rate=rate,
                median_final_gap=1e-3,
                median_evals_to_target=100.0,
            )
            for variant, rates in results.items()
            for i, rate in enumerate(rates)
        ]
    )


def test_the_sign_test_decides_only_with_enough_comparisons():
    many = comparison({"fuse_pv_epoch": [1.0] * 8, "adam": [0.5] * 8})
    test = claims.sign_test(many, "fuse_pv_epoch", "adam", 1e-8)
    assert (test.wins, test.losses, test.ties) == (8, 0, 0) and test.p < 0.01
    few = comparison({"fuse_pv_epoch": [1.0, 1.0, 0.5], "adam": [0.5, 0.5, 1.0]})
    assert claims.sign_test(few, "fuse_pv_epoch", "adam", 1e-8).p > 0.05
    tied = comparison({"fuse_pv_epoch": [1.0] * 4, "adam": [1.0] * 4})
    assert claims.sign_test(tied, "fuse_pv_epoch", "adam", 1e-8).ties == 4


def test_a_success_rate_wins_only_when_it_differs_by_more_than_chance():
    """2 of 100 starts against 0 of 100 is no evidence (Fisher's exact test): the cells
    are compared on their median final gap next; 30 of 100 against 10 of 100 is."""
    cells = comparison({"fuse_pv_epoch": [0.02, 0.02, 0.3], "adam": [0.0, 0.0, 0.1]})
    cells.loc[(cells["variant"] == "adam") & (cells["function"] == "f1"), "median_final_gap"] = 1e-6
    test = claims.sign_test(cells, "fuse_pv_epoch", "adam", 1e-8)
    assert (test.wins, test.losses, test.ties) == (1, 1, 1)  # f2 by success, f1 by gap


def test_claim_rows_and_their_verdicts():
    table = comparison(
        {
            "fuse_pv_epoch": [1.0] * 8,
            "adam": [0.5] * 8,
            "fuse_pv_gradient": [0.5] * 8,
            "fuse_pv_loss": [1.0] * 8,
        }
    )
    rows = {row["claim"][:6]: row for row in claims.claim_rows(table, 1e-8, "test functions")}
    assert rows["L-BFGS"]["verdict"] == SUPPORTED + " (better than Adam)"
    assert rows["The ep"]["verdict"] == (  # beats gradient, ties loss
        UNDECIDED + " (better than FUSE-PV (gradient); no difference from FUSE-PV (loss))"
    )
    assert "0 wins, 0 losses, 8 ties" in rows["The ep"]["evidence"]
    worse = comparison({"fuse_pv_epoch": [0.5] * 8, "adam": [1.0] * 8})
    (row,) = claims.claim_rows(worse, 1e-8, "test functions")
    assert row["verdict"].startswith(NOT_SUPPORTED + " (worse than")
