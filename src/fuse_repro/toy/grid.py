"""What the toy ablation runs, by name: optimizer variants and function keys, from the
``toy`` block of params.yaml. No optimizer code here: the summaries and the report use
these names without depending on how the runs are made."""

from __future__ import annotations

from typing import Any

from fuse_repro.core.variants import Variant


def function_key(spec: dict[str, Any]) -> str:
    """``rosenbrock_2d`` for ``{"name": "rosenbrock", "dim": 2}``."""
    return f"{spec['name']}_{spec['dim']}d"


def main_variants(settings: dict[str, Any]) -> list[Variant]:
    """The comparison's variants: each optimizer of ``settings["optimizers"]``, ``fuse``
    once per ``theta`` of ``settings["fuse"]["thetas"]``."""
    variants = []
    for name in settings["optimizers"]:
        if name == "fuse":
            variants += [Variant("fuse", {"theta": t}) for t in settings["fuse"]["thetas"]]
        else:
            variants.append(Variant(name))
    return variants


ABLATED_OPTIMIZER = {
    "switch_epoch": "fuse_pv_epoch",
    "theta": "fuse",
    "grad_threshold": "fuse_pv_gradient",
    "min_delta": "fuse_pv_loss",
    "history_size": "fuse_pv_epoch",
}


def ablation_variants(settings: dict[str, Any]) -> dict[str, list[Variant]]:
    """Per swept setting of ``settings["ablation"]["sweeps"]``, one variant per value on
    the reported starts and, with ``ablation.selection_starts``, one more on the selection
    starts (the value is chosen there and reported on the others)."""
    sets = (False, True) if settings["ablation"]["selection_starts"] else (False,)
    return {
        name: [
            Variant(ABLATED_OPTIMIZER[name], {name: value}, selection)
            for selection in sets
            for value in values
        ]
        for name, values in settings["ablation"]["sweeps"].items()
    }
