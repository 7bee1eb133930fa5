"""The report's shared parts: the machine and packages that built it, the data manifest,
Markdown tables and figures, and showing a section in the report notebook.

A section is a list of items: Markdown text (``str``) or a :class:`Figure`. Each
experiment family writes its own section (:mod:`fuse_repro.image.report`,
:mod:`fuse_repro.toy.report`); ``notebooks/report.ipynb`` shows them, and ``nbconvert``
renders the executed notebook to ``reports/<scale>/report.md`` and ``report.html``.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from fuse_repro.core.runstore import NUMERICS_VERSION

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "seaborn", "papermill", "dvc")


@dataclass(frozen=True)
class Figure:
    """A PNG file and its caption."""

    path: Path
    caption: str


Item = str | Figure


def table(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table (pipes in cells escaped)."""
    return frame.astype(str).replace(r"\|", r"\\|", regex=True).to_markdown(index=False)


def duration(seconds: float) -> str:
    """``seconds`` in the unit a reader plans with: seconds, minutes or hours."""
    if seconds < 600:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def missing_note(runs: dict[str, int], what: str, experiment: str, scale: str) -> list[str]:
    """That a grid is not yet run or only partly (``runs``: ``stored`` and ``grid`` counts
    of ``what``, such as "runs"), and the command that trains the rest; nothing when whole."""
    if runs["stored"] >= runs["grid"]:
        return []
    return [
        f"**{'Not yet run' if not runs['stored'] else 'Partial grid'}**: {runs['stored']} of "
        f"the grid's {runs['grid']} {what} are stored. Run the others with `python -m "
        f"fuse_repro.train {experiment} --scale {scale}`, then `dvc repro`."
    ]


CODE = ("src", "notebooks", "params.yaml", "dvc.yaml")
"""What a report's numbers depend on besides the runs (its commit is named with them)."""


def environment() -> dict[str, str]:
    """Commit, package versions and device of the machine building the report."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *CODE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if changed:
            commit += " with uncommitted changes to the code"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PACKAGES)
    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"CPU ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)"
    )
    return {
        "commit": commit,
        "packages": versions,
        "python": platform.python_version(),
        "device": device,
    }


def header(scale: str, manifest: dict, env: dict[str, str]) -> str:
    """A table of the scale, the numerics version of the runs it reads (runs of another
    version are never read back), data sources, commit, device and packages."""
    sources = "; ".join(f"{name}: {entry['source_label']}" for name, entry in manifest.items())
    rows = {
        "scale": scale,
        "numerics version": str(NUMERICS_VERSION),
        "data": sources,
        "built from commit": env["commit"],
        "device": env["device"],
        "python": env["python"],
        "packages": env["packages"],
    }
    return table(pd.DataFrame({"": list(rows), "value": list(rows.values())}))


CLAIM_COLUMNS = {
    "claim": "Claim",
    "scale": "Scale",
    "workload": "Workload",
    "measure": "Compared at",
    "evidence": "Ours: mean difference [95 % CI] (per seed), or wins/losses",
    "verdict": "Verdict",
    "where": "Details",
}
"""The columns of a claims table (those present in its rows are shown)."""


def claims_table(rows: list[dict]) -> str:
    """Claims (rows of :mod:`fuse_repro.image.claims`, :mod:`fuse_repro.toy.claims`) as a
    Markdown table."""
    frame = pd.DataFrame(rows)
    columns = [c for c in CLAIM_COLUMNS if c in frame.columns]
    return table(frame[columns].rename(columns=CLAIM_COLUMNS))


def load_manifest(path: Path) -> dict:
    """The data manifest that the ``prepare`` stage wrote."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `dvc repro prepare` first")
    return json.loads(path.read_text())


def show(items: list[Item]) -> None:
    """Display a section in the notebook: Markdown as Markdown, figures as images with
    their caption in italics."""
    from IPython.display import Image, Markdown, display

    for item in items:
        if isinstance(item, Figure):
            display(Image(filename=str(item.path)), Markdown(f"*{item.caption}*"))
        else:
            display(Markdown(item))
