"""The report's shared parts: the machine and packages that built it, the data manifest,
Markdown tables and figures, and showing a section in the report notebook.

A section is a list of items: Markdown text (``str``) or a :class:`Figure`. Each
experiment family writes its own section (:mod:`fuse_repro.image.report`,
:mod:`fuse_repro.toy.report`); ``notebooks/report.ipynb`` shows them, and ``nbconvert``
renders the executed notebook to ``reports/report.md`` and ``reports/report.html``.
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


def environment() -> dict[str, str]:
    """Commit, package versions and device of the machine building the report."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
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
    """A table of the scale, data sources, commit, device and packages."""
    sources = "; ".join(f"{name}: {entry['source_label']}" for name, entry in manifest.items())
    rows = {
        "scale": scale,
        "data": sources,
        "commit": env["commit"],
        "device": env["device"],
        "python": env["python"],
        "packages": env["packages"],
    }
    return table(pd.DataFrame({"": list(rows), "value": list(rows.values())}))


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
