"""Where the repository is, so that notebooks find their files wherever they run, and
where each experiment's results go (the outputs that ``dvc.yaml`` declares)."""

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


def results_dir(root: Path, scale: str, experiment: str) -> Path:
    """``results/<scale>/<experiment>``: an experiment's runs (``runs/``), summaries and
    figures at one scale."""
    return root / "results" / scale / experiment


def metrics_path(root: Path, scale: str, experiment: str) -> Path:
    """``results/<scale>/<experiment>_metrics.json``, beside :func:`results_dir` (DVC
    refuses a metrics file inside an output folder)."""
    return root / "results" / scale / f"{experiment}_metrics.json"


def estimate_path(root: Path, experiment: str) -> Path:
    """The paper grid's GPU time estimate of ``benchmarks/grid_estimate.py``."""
    return root / "benchmarks" / "results" / "grid_estimate" / f"{experiment}.json"


def sweep_dir(root: Path, sweep: str) -> Path:
    """``results/sweeps/<sweep>``: a declared sweep's runs (``runs/``), tables and figures."""
    return root / "results" / "sweeps" / sweep


def sweep_metrics_path(root: Path, sweep: str) -> Path:
    """``results/sweeps/<sweep>_metrics.json``, beside :func:`sweep_dir`."""
    return root / "results" / "sweeps" / f"{sweep}_metrics.json"
