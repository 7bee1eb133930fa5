"""The report's table of what the runs cost: per experiment at a scale (and per declared
sweep), how many of its runs are stored, the training seconds they took summed over the runs
(the ``training_seconds`` of its metrics JSON: time inside the training loop, without the
scoring), how many runs were trained at once, and for a grid with a
``benchmarks/grid_estimate.py`` estimate, the time it would take on one GPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from fuse_repro.claims import link
from fuse_repro.core.paths import estimate_path, metrics_path, sweep_metrics_path
from fuse_repro.image.settings import DATASETS
from fuse_repro.params import resolve, resolve_sweep
from fuse_repro.pinn.report import HEADING as PINN_HEADING
from fuse_repro.report import duration
from fuse_repro.toy.report import HEADINGS as TOY_HEADINGS


def at_once(settings: dict[str, Any]) -> str:
    """How many runs train side by side (``workers``; ``auto``: one per CPU core)."""
    workers = settings["workers"]
    return "one per CPU core" if workers == "auto" else str(workers)


def gpu_estimate(root: Path, experiment: str, scale: str) -> str:
    """The paper grid's estimated minutes on one GPU (``benchmarks/grid_estimate.py``), per
    number of runs at once; a dash where none was made."""
    path = estimate_path(root, experiment)
    if scale != "paper" or not path.is_file():
        return "—"
    minutes = json.loads(path.read_text())["estimated_minutes"]
    return ", ".join(f"{value:.0f} min ({workers} at once)" for workers, value in minutes.items())


def row(name: str, runs: dict, settings: dict[str, Any], gpu: str = "—") -> dict[str, str]:
    """One experiment's row (``runs``: a metrics JSON's ``runs``: stored, grid or
    expected, training seconds)."""
    return {
        "experiment": name,
        "runs stored": f"{runs['stored']} of {runs.get('grid', runs.get('expected'))}",
        "training time (summed over the stored runs)": duration(runs["training_seconds"])
        if runs["stored"]
        else "—",
        "runs at once": at_once(settings),
        "one GPU, estimated": gpu,
    }


def experiment_rows(root: Path, params: dict[str, Any], scale: str) -> list[dict[str, str]]:
    """A row per experiment with results at ``scale``, linked to its section."""
    headings = {name: dataset.label for name, dataset in DATASETS.items()}
    headings |= TOY_HEADINGS | {"pinn": PINN_HEADING}
    rows = []
    for experiment, heading in headings.items():
        path = metrics_path(root, scale, experiment)
        if path.is_file():
            runs = json.loads(path.read_text())["runs"]
            rows.append(
                row(
                    link(heading, scale, scale),
                    runs,
                    resolve(params, experiment, scale),
                    gpu_estimate(root, experiment, scale),
                )
            )
    return rows


def sweep_rows(root: Path, params: dict[str, Any], scale: str) -> list[dict[str, str]]:
    """A row per declared sweep with metrics: its trials and confirmation runs together."""
    rows = []
    for name in params["sweeps"]:
        path = sweep_metrics_path(root, name)
        if path.is_file():
            metrics = json.loads(path.read_text())
            parts = [metrics[key] for key in ("runs", "confirmation") if key in metrics]
            runs = {key: sum(part[key] for part in parts) for key in parts[0]}
            settings = resolve_sweep(params, name)[0]
            label = link(f"Sweep {name}", scale, scale)
            rows.append(row(f"{label} ({settings['scale']} scale)", runs, settings))
    return rows


def cost_table(root: Path, params: dict[str, Any], scale: str) -> pd.DataFrame:
    """Every experiment's row at ``scale``, then every sweep's."""
    return pd.DataFrame(experiment_rows(root, params, scale) + sweep_rows(root, params, scale))
