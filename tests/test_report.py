"""The report parts shared by the families (fuse_repro.report)."""

import pandas as pd

from fuse_repro import claims, report
from fuse_repro.core.paths import results_dir
from fuse_repro.core.runstore import NUMERICS_VERSION
from fuse_repro.toy.report import HEADINGS


def test_header_names_the_source_of_the_data():
    manifest = {"fashion_mnist": {"source_label": "Fashion-MNIST (official files)"}}
    assert "Fashion-MNIST (official files)" in report.header(
        "quick", manifest, {"commit": "c", "device": "cpu", "python": "3", "packages": "torch"}
    )


def test_header_names_the_numerics_version_of_the_runs():
    header = report.header(
        "paper", {}, {"commit": "c", "device": "d", "python": "3", "packages": "p"}
    )
    assert f"| numerics version | {NUMERICS_VERSION} " in " ".join(header.split())


def test_claims_link_to_their_section_in_the_report_of_their_scale():
    assert claims.link("FashionMNIST", "quick", "quick") == "[FashionMNIST](#fashionmnist)"
    assert claims.link(HEADINGS["toy"], "paper", "quick") == (
        "[Toy ablation](../paper/report.md#toy-ablation-test-functions-with-known-minima)"
    )


def test_claims_come_from_the_results_present(tmp_path, committed_params):
    assert claims.claim_rows(tmp_path, committed_params, "paper", "paper") == []
    folder = results_dir(tmp_path, "paper", "fashion_mnist")
    folder.mkdir(parents=True)
    rows = [
        dict(
            model="mlp",
            optimizer=o,
            seed=s,
            epoch=e,
            closure_evals=e,
            wall_time=e,
            test_accuracy=0.5 + e * (0.1 if o == "adam" else 0.2) + s * 0.01,
        )
        for o in ("adam", "fuse_pv_epoch")
        for s in (0, 1, 2)
        for e in (0, 1)
    ]
    pd.DataFrame(rows).to_csv(folder / "log.csv", index=False)
    (row,) = claims.claim_rows(tmp_path, committed_params, "paper", "quick")
    assert row["scale"] == "paper" and row["verdict"].startswith("supported (")
    assert row["where"] == "[FashionMNIST](../paper/report.md#fashionmnist)"


def test_durations_read_in_the_unit_a_reader_plans_with():
    assert report.duration(42.4) == "42 s"
    assert report.duration(3000) == "50 min"
    assert report.duration(9000) == "2.5 h"
