"""``params.yaml``: loaded once, validated before any work starts, resolved to one scale.

The file holds one block per experiment. Each experiment block has ``common`` (settings of
both scales, ``quick`` and ``paper``, written once) and one block per scale stating only
what differs (each scale is its own pipeline stage); :func:`resolve` merges them (a
scale's value replaces the common one; mappings merge key by key). Every key is checked
against its family's schema (:mod:`fuse_repro.image.settings`,
:mod:`fuse_repro.toy.settings`, :mod:`fuse_repro.pinn.settings`, the optimizer blocks of
:mod:`fuse_repro.core.optimizers`):
an unknown, missing, mistyped or out-of-range value raises :class:`ParamsError` naming the
key by the full path where it is written (for example ``fashion_mnist.paper.fuse_pv.patience``,
or ``fashion_mnist.common.batch_size``).

Notebooks call :func:`load` once and pass the plain dicts of :func:`resolve` down;
``python -m fuse_repro.params`` checks the file from the command line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from fuse_repro.core.optimizers import names
from fuse_repro.core.runstore import MISSING_RUNS
from fuse_repro.core.schema import (
    POSITIVE_INT,
    Boolean,
    Choice,
    ListOf,
    Mapping,
    Number,
    Or,
    ParamsError,
    check_section,
)
from fuse_repro.image import settings as image_settings
from fuse_repro.image import sweeps
from fuse_repro.pinn import settings as pinn_settings
from fuse_repro.toy import settings as toy_settings

SCALES = ("quick", "paper")
EXPERIMENTS = {
    name: schema | {"missing_runs": Choice(MISSING_RUNS)}
    for name, schema in (
        *((name, image_settings.schema(name)) for name in image_settings.DATASETS),
        *((name, toy_settings.SCHEMA) for name in toy_settings.STUDIES),
        ("pinn", pinn_settings.SCHEMA),
    )
}
"""Each experiment's schema at one scale (``missing_runs``: whether its stage trains the
runs it lacks, or reports them as missing; see :mod:`fuse_repro.core.runstore`)."""
SWEEP = {
    "experiment": Choice(tuple(image_settings.DATASETS)),
    "scale": Choice(SCALES),
    "settings": Mapping(),
    "trials": POSITIVE_INT,
    "seed": Number(integer=True, low=0),
    "defaults": Boolean(),
    "confirm_seeds": Or(None, ListOf(Number(integer=True, low=0))),
    "missing_runs": Choice(MISSING_RUNS),
    "optimizers": Mapping(),
}
"""The schema of one sweep (:mod:`fuse_repro.image.sweeps`): the experiment and scale it
starts from, the settings it changes for all its points, the trials of each range, the
seed of their quasi-random sequence, whether each swept optimizer also runs as configured
(``defaults``), the new seeds on which the chosen points run again (``confirm_seeds``, or
null), what its stage does with missing runs, and the points (per optimizer, its swept
settings)."""


def merge(common: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``common`` with ``override``'s values; mappings present in both merge key by key."""
    merged = dict(common)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = merge(merged[key], value)
        merged[key] = value
    return merged


@dataclass(frozen=True)
class Part:
    """A ``common`` or per-scale block: the keys present are checked against ``schema``."""

    schema: dict[str, Any]

    def check(self, value: Any, key: str) -> None:
        check_section(value, self.schema, key, complete=False)


def _origin(params: dict[str, Any], experiment: str, scale: str, dotted: str) -> str:
    """The path of ``experiment``'s key ``dotted`` where it is written: in the ``scale``
    block if there, else in ``common``."""
    node: Any = params[experiment][scale]
    for part in dotted.split("."):
        part = part.split("[")[0]
        if not isinstance(node, dict) or part not in node:
            return f"{experiment}.common.{dotted}"
        node = node[part]
    return f"{experiment}.{scale}.{dotted}"


def _relations(experiment: str, block: dict[str, Any], where: str) -> None:
    if experiment in toy_settings.STUDIES:
        toy_settings.check_relations(block, where)
    elif experiment == "pinn":
        pinn_settings.check_relations(block, where)
    else:
        image_settings.check_relations(block, experiment, where)


def validate(params: Any) -> None:
    """Raise :class:`ParamsError` for the first problem found in ``params`` (the file's
    contents), at either scale."""
    layout = {
        name: {part: Part(schema) for part in ("common", *SCALES)}
        for name, schema in EXPERIMENTS.items()
    } | {"sweeps": Mapping()}
    check_section(params, layout)
    for name, schema in EXPERIMENTS.items():
        for scale in SCALES:
            block = merge(params[name]["common"], params[name][scale])
            where = f"{name}.{scale}"
            try:
                check_section(block, schema, where)
            except ParamsError as error:
                raise ParamsError(f"{error} (in neither {name}.common nor {where})") from None
            try:
                _relations(name, block, where)
            except ParamsError as error:
                path, _, problem = str(error).partition(": ")
                dotted = path.removeprefix(f"{where}.")
                raise ParamsError(f"{_origin(params, name, scale, dotted)}: {problem}") from None
    for name in params["sweeps"]:
        resolve_sweep(params, name)


def _check_settings(settings: dict[str, Any], experiment: str, where: str) -> None:
    """``settings`` (an experiment's, without the names added by :func:`resolve`) against
    the experiment's schema and relations."""
    block = {k: v for k, v in settings.items() if k not in ("experiment", "scale")}
    check_section(block, EXPERIMENTS[experiment], where)
    _relations(experiment, block, where)


def resolve_sweep(params: dict[str, Any], name: str) -> tuple[dict[str, Any], list[sweeps.Point]]:
    """Sweep ``name``'s settings (its experiment at its scale, changed by its
    ``settings``, with its ``missing_runs``, plus ``sweep``: the name, and its
    ``confirm_seeds``) and its points, every point's settings checked
    (:class:`ParamsError` names the key)."""
    where = f"sweeps.{name}"
    if name not in params["sweeps"]:
        raise ParamsError(f"{where}: no such sweep (known: {sorted(params['sweeps'])})")
    sweep = params["sweeps"][name]
    check_section(sweep, SWEEP, where)
    experiment = sweep["experiment"]
    check_section(sweep["settings"], EXPERIMENTS[experiment], f"{where}.settings", complete=False)
    base = merge(resolve(params, experiment, sweep["scale"]), sweep["settings"])
    base["missing_runs"] = sweep["missing_runs"]
    _check_settings(base, experiment, f"{where}.settings")
    for optimizer in sweep["optimizers"]:
        Choice(names("image")).check(optimizer, f"{where}.optimizers.{optimizer}")
    sweep_points = sweeps.check(sweep, base, where)
    for point in sweep_points:
        _check_settings(point.applied_to(base), experiment, f"{where}.optimizers.{point.optimizer}")
    if set(sweep["confirm_seeds"] or []) & set(base["seeds"]):
        raise ParamsError(
            f"{where}.confirm_seeds: must be new seeds, not the trials' {base['seeds']}, "
            f"got {sweep['confirm_seeds']}"
        )
    return base | {"sweep": name, "confirm_seeds": sweep["confirm_seeds"]}, sweep_points


def load(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read and validate the whole params file; returns its contents."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file")
    try:
        params = yaml.load(path.read_text(), Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    validate(params)
    for experiment in EXPERIMENTS:
        for scale in SCALES:  # a stage that trains would fail at its first run
            settings = resolve(params, experiment, scale)
            trains = settings["missing_runs"] == "train"
            if trains and settings.get("device") == "cuda" and not torch.cuda.is_available():
                raise ParamsError(
                    f"{_origin(params, experiment, scale, 'device')}: 'cuda' is asked for but "
                    "CUDA is not available on this machine (use auto: CUDA when present, "
                    "else the CPU)"
                )
    return params


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key written twice in one mapping (plain YAML
    keeps the last value silently); a key given beside a merge key (``<<: *anchor``)
    replaces the merged one, as YAML specifies."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def resolve(params: dict[str, Any], experiment: str, scale: str) -> dict[str, Any]:
    """The settings of ``experiment`` at ``scale``: its ``common`` block merged with the
    scale's, plus ``experiment`` and ``scale``."""
    if experiment not in EXPERIMENTS:
        raise ParamsError(f"{experiment}: unknown experiment (known: {sorted(EXPERIMENTS)})")
    if scale not in SCALES:
        raise ParamsError(f"scale: must be one of {list(SCALES)}, got {scale!r}")
    block = merge(params[experiment]["common"], params[experiment][scale])
    return block | {"experiment": experiment, "scale": scale}


def main(argv: list[str] | None = None) -> int:
    """``python -m fuse_repro.params [PATH]``: 0 when valid, 2 with the error otherwise."""
    parser = argparse.ArgumentParser(description="Validate params.yaml.")
    parser.add_argument("path", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        load(args.path)
    except ParamsError as error:
        print(f"params error: {error}", file=sys.stderr)
        return 2
    print(f"{args.path}: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
