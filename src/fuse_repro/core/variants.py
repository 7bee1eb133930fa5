"""Optimizer variants: an optimizer of the registry with some of its settings changed,
named by a key (the toy study's ablated values, the physics-informed study's hand-picked
switch points and blends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Settings a variant may override, and the settings block each one lives in (None: an
# argument of the optimizer's builder, such as plain FUSE's constant theta).
OVERRIDABLE = {
    "theta": None,
    "switch_epoch": "fuse_pv",
    "grad_threshold": "fuse_pv",
    "min_delta": "fuse_pv",
    "history_size": "fuse_pv",
}


SELECTION = "@selection"
"""The suffix of a variant that runs on the selection starts (see :class:`Variant`)."""


@dataclass(frozen=True, eq=False)
class Variant:
    """An optimizer name and the settings it overrides, e.g. ``Variant("fuse",
    {"theta": 0.5})``; ``key`` names it in logs, file names and metrics. ``selection``:
    the variant runs on the selection starts (starts ``n .. 2n - 1`` of the study's seeded
    stream, where the reported ones are ``0 .. n - 1``), on which an ablation chooses its
    settings; its key ends in :data:`SELECTION`."""

    optimizer: str
    settings: dict[str, float] = field(default_factory=dict)
    selection: bool = False

    @property
    def key(self) -> str:
        settings = "".join(f"-{k}={v:g}" for k, v in self.settings.items())
        return self.optimizer + settings + (SELECTION if self.selection else "")

    def applied_to(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` with this variant's settings in their blocks."""
        merged = dict(base)
        for name, value in self.settings.items():
            block = OVERRIDABLE[name]
            if block is not None:
                merged[block] = {**merged[block], name: value}
        return merged

    @property
    def arguments(self) -> dict[str, float]:
        """The settings passed to the optimizer's builder as arguments."""
        return {k: v for k, v in self.settings.items() if OVERRIDABLE[k] is None}
