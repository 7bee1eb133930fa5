"""The report's opening table: every claim of the paper this repository can test, on each
workload and scale whose results are present, with our numbers, a verdict (supported, not
supported, no difference, not testable here) and a link to the section behind it.

The claims and their tests live with their families (:mod:`fuse_repro.image.claims`,
:mod:`fuse_repro.toy.claims`); this module only collects them from the results folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fuse_repro.core.paths import results_dir
from fuse_repro.image import claims as image_claims
from fuse_repro.image.settings import DATASETS
from fuse_repro.params import resolve
from fuse_repro.toy import claims as toy_claims
from fuse_repro.toy.report import HEADINGS
from fuse_repro.toy.settings import STUDIES


def link(heading: str, scale: str, report_scale: str) -> str:
    """A Markdown link to a section of the report of ``scale``, from the report of
    ``report_scale`` (``reports/<scale>/report.md``), as the repository host renders
    headings."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    target = "#" + kept.replace(" ", "-")
    if scale != report_scale:
        target = f"../{scale}/report.md{target}"
    return f"[{heading.split(':')[0]}]({target})"


def claim_rows(root: Path, params: dict[str, Any], scale: str, report_scale: str) -> list[dict]:
    """Every claim tested on the results of ``scale`` under ``root``, linked from the
    report of ``report_scale`` (workloads without results are left out)."""
    rows = []
    for experiment, dataset in DATASETS.items():
        log = results_dir(root, scale, experiment) / "log.csv"
        if log.is_file():
            where = link(dataset.label, scale, report_scale)
            rows += [
                row | {"where": where}
                for row in image_claims.claim_rows(pd.read_csv(log), dataset.label)
            ]
    for study, workload in STUDIES.items():
        comparison = results_dir(root, scale, study) / "comparison.csv"
        if comparison.is_file():
            target_gap = resolve(params, study, scale)["target_gap"]
            where = link(HEADINGS[study], scale, report_scale)
            rows += [
                row | {"where": where}
                for row in toy_claims.claim_rows(pd.read_csv(comparison), target_gap, workload)
            ]
    return [row | {"scale": scale} for row in rows]
