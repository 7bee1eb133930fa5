"""Where the repository is, so that notebooks find their files wherever they run."""

from __future__ import annotations

from pathlib import Path

MARKER = "dvc.yaml"


def repository_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) that holds
    ``dvc.yaml``: the repository root under papermill from the root and in JupyterLab from
    ``notebooks/`` alike."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / MARKER).is_file():
            return folder
    raise FileNotFoundError(f"no {MARKER} in {start} or any folder above it: not in the repository")
