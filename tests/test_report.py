"""The report parts shared by the families (fuse_repro.report)."""

from fuse_repro import report


def test_header_names_the_source_of_the_data():
    manifest = {"fashion_mnist": {"source_label": "Fashion-MNIST (official files)"}}
    assert "Fashion-MNIST (official files)" in report.header(
        "quick", manifest, {"commit": "c", "device": "cpu", "python": "3", "packages": "torch"}
    )
