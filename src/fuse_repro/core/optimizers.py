"""The optimizers of the experiments: one registry, one small interface.

:data:`REGISTRY` is the only list of optimizers. Each :class:`OptimizerSpec` names its
builder, display label, family, switch rule, the ``params.yaml`` blocks it reads (the
schema of its settings, and with them its run identity: a run depends on its own
optimizer's settings, not on its neighbours'), and the experiment families it runs in.
The params checker, training, the summaries, the toy grid and the report all read it.
Adding an optimizer is one entry here plus its block in ``params.yaml``.

Every optimizer built here has ``step(closure)``, ``end_epoch(train_loss, val_loss)``,
``zero_grad()``, ``phase`` (the update rule in use), ``counters`` (FUSE's counters; the
switch point for Adam→SGD; empty otherwise) and ``state_dict`` / ``load_state_dict``, so
the training loops treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from fuse import FUSE, PAPER_SWITCH_RULES, SWITCH_RULES
from fuse_repro.core.schema import LEARNING_RATE, POSITIVE_INT, Boolean, Number

FAMILIES = ("image", "toy", "pinn")
"""The experiment families (subpackages of :mod:`fuse_repro`)."""

COUNTERS = (
    "switch_step",
    "switch_epoch",
    "switch_reason",
    "lbfgs_iterations",
    "history_len",
    "skipped_pairs",
    "nonfinite_trials",
    "line_search_failures",
    "nonfinite_recoveries",
    "indefinite_resets",
    "reused_evaluations",
)
"""The counters every training log row carries (:attr:`fuse.FUSE.counters`; empty for
optimizers that have none)."""


class TorchOptimizer:
    """A torch optimizer with a constant phase name, no counters and a no-op epoch hook."""

    def __init__(self, optimizer: torch.optim.Optimizer, phase: str) -> None:
        self.optimizer, self.phase = optimizer, phase

    def step(self, closure: Callable[[], torch.Tensor]) -> Any:
        return self.optimizer.step(closure)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def end_epoch(self, train_loss: float, val_loss: float | None = None) -> None:
        """The end of an epoch: the full training set's loss and the validation split's
        (None without one), for a rule that watches either."""
        del train_loss, val_loss

    def trains_model_in_eval_mode(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) trains the model in eval mode (only the official
        script's quirk does; see :class:`OfficialFusePV`)."""
        del epoch
        return False

    @property
    def counters(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this optimizer is (checkpoints)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)


class AdamThenSGD(TorchOptimizer):
    """Adam for ``switch_epoch`` epochs, then SGD (``sgd``: its arguments, learning rate
    and momentum): two optimizers, one-way switch."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        adam_lr: float,
        sgd: dict[str, float],
        switch_epoch: int,
    ) -> None:
        params = list(params)
        self.adam = torch.optim.Adam(params, lr=adam_lr)
        self.sgd = torch.optim.SGD(params, **sgd)
        self.switch_epoch, self.epoch = switch_epoch, 0
        super().__init__(self.adam, "adam")
        self._switch_if_due()

    def end_epoch(self, train_loss: float, val_loss: float | None = None) -> None:
        self.epoch += 1
        self._switch_if_due()

    @property
    def counters(self) -> dict[str, Any]:
        """The switch point once switched, in FUSE's terms (epochs completed before it)."""
        if self.phase != "sgd":
            return {}
        return {
            "switch_epoch": self.switch_epoch,
            "switch_reason": f"epoch {self.switch_epoch} >= switch_epoch={self.switch_epoch}",
        }

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "adam": self.adam.state_dict(), "sgd": self.sgd.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.adam.load_state_dict(state["adam"])
        self.sgd.load_state_dict(state["sgd"])
        self._switch_if_due()

    def _switch_if_due(self) -> None:
        if self.epoch >= self.switch_epoch:
            self.optimizer, self.phase = self.sgd, "sgd"


class FuseOptimizer(TorchOptimizer):
    """:class:`fuse.FUSE`; the phase is FUSE's own (``adam``, ``lbfgs`` or ``fuse``).
    The loss rule watches ``monitor``: ``train_loss`` (the paper's) or ``val_loss``."""

    def __init__(self, optimizer: FUSE, monitor: str = "train_loss") -> None:
        super().__init__(optimizer, optimizer.phase)
        self.monitor = monitor

    def step(self, closure: Callable[[], torch.Tensor]) -> Any:
        loss = self.optimizer.step(closure)
        self.phase = self.optimizer.phase
        return loss

    @property
    def counters(self) -> dict[str, Any]:
        counters = self.optimizer.counters
        return {name: counters[name] for name in COUNTERS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)
        self.phase = self.optimizer.phase

    def end_epoch(self, train_loss: float, val_loss: float | None = None) -> None:
        monitored = {"train_loss": train_loss, "val_loss": val_loss}[self.monitor]
        if monitored is None:
            raise ValueError(
                "this FUSE-PV watches the validation loss: the run needs a validation "
                "split (validation_size in params.yaml)"
            )
        self.optimizer.end_epoch(monitored_loss=monitored)
        self.phase = self.optimizer.phase


class Scheduled(TorchOptimizer):
    """A torch optimizer whose learning rate follows ``schedule`` (a
    :mod:`torch.optim.lr_scheduler` built on it), stepped once at each epoch's end."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        phase: str,
        schedule: Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler],
    ) -> None:
        super().__init__(optimizer, phase)
        self.schedule = schedule(optimizer)

    def end_epoch(self, train_loss: float, val_loss: float | None = None) -> None:
        self.schedule.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])


class OfficialFusePV(TorchOptimizer):
    """FUSE-PV as the authors' script (FOSSO ``main.py``) actually runs it, quirks included
    (the paper describes a one-way switch; the script's criterion argument is overwritten):

    * Adam (``torch.optim.Adam``) for ``adam_epochs`` epochs;
    * then, batch by batch, one evaluation of the batch loss decides: below
      ``loss_threshold`` an L-BFGS step (``torch.optim.LBFGS``, strong Wolfe, whose state
      persists across batches as in the script), else an Adam step from that evaluation's
      gradient, so the run switches back and forth and Adam's moments go stale meanwhile;
    * the model trains in eval mode from the second epoch on (the script never switches it
      back after its first evaluation): batch norm then normalises with running statistics
      that are never updated again.

    Not reproduced, as it affects only scoring: the script scored accuracy on its first test
    batch only; here every method is scored alike. ``phase`` is ``adam`` during the first
    epochs and ``mixed`` after them; ``counters['lbfgs_iterations']`` counts L-BFGS batches.
    """

    def __init__(self, params: Iterable[torch.Tensor], official: dict[str, Any]) -> None:
        params = list(params)
        self.adam = torch.optim.Adam(params, lr=official["lr"])
        self.lbfgs = strong_wolfe_lbfgs(params, official["lbfgs_lr"], official)
        self.adam_epochs, self.threshold = official["adam_epochs"], official["loss_threshold"]
        self.epoch, self.lbfgs_batches = 0, 0
        super().__init__(self.adam, "adam")
        self._set_phase()

    def step(self, closure: Callable[[], torch.Tensor]) -> Any:
        if self.epoch < self.adam_epochs:
            return self.adam.step(closure)
        loss = closure()  # the batch loss that picks the update, and Adam's gradient
        if loss.detach().item() < self.threshold:  # a host read per batch, as the script
            self.lbfgs_batches += 1
            return self.lbfgs.step(closure)
        self.adam.step()
        return loss

    def end_epoch(self, train_loss: float, val_loss: float | None = None) -> None:
        self.epoch += 1
        self._set_phase()

    def _set_phase(self) -> None:
        self.phase = "adam" if self.epoch < self.adam_epochs else "mixed"

    def trains_model_in_eval_mode(self, epoch: int) -> bool:
        return epoch >= 2

    @property
    def counters(self) -> dict[str, Any]:
        return {"lbfgs_iterations": self.lbfgs_batches}

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "lbfgs_batches": self.lbfgs_batches,
            "adam": self.adam.state_dict(),
            "lbfgs": self.lbfgs.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.adam.load_state_dict(state["adam"])
        self.lbfgs.load_state_dict(state["lbfgs"])
        self.epoch, self.lbfgs_batches = state["epoch"], state["lbfgs_batches"]
        self._set_phase()


# ------------------------------------------------------------------ builders
# Each takes the parameters and an experiment's settings (its params.yaml block at one
# scale) and reads only the blocks its registry entry declares.
def torch_builder(optimizer: type[torch.optim.Optimizer], block: str) -> Callable:
    """A builder of ``optimizer(params, **settings[block])``, its phase named ``block``."""

    def build(params, settings) -> TorchOptimizer:
        return TorchOptimizer(optimizer(params, **settings[block]), block)

    return build


def strong_wolfe_lbfgs(params, lr: float, settings: dict[str, Any]) -> torch.optim.LBFGS:
    """``torch.optim.LBFGS`` as the official code builds it: strong-Wolfe line search,
    ``history_size``, ``max_iter`` and ``max_eval`` per step (per batch) from ``settings``."""
    keys = ("history_size", "max_iter", "max_eval")
    return torch.optim.LBFGS(
        params, lr=lr, line_search_fn="strong_wolfe", **{key: settings[key] for key in keys}
    )


def _lbfgs(params, settings) -> TorchOptimizer:
    return TorchOptimizer(
        strong_wolfe_lbfgs(params, settings["lbfgs"]["lr"], settings["lbfgs"]), "lbfgs"
    )


def _adam_sgd(params, settings) -> AdamThenSGD:
    """The official baseline: Adam, then SGD (the ``sgd`` block's) from ``switch_epoch`` on."""
    return AdamThenSGD(
        params, settings["adam"]["lr"], settings["sgd"], settings["adam_sgd"]["switch_epoch"]
    )


def _adam_decay(params, settings) -> Scheduled:
    """Adam whose rate is multiplied by ``adam_decay.factor`` once FUSE-PV's
    ``switch_epoch`` epochs are done (:class:`torch.optim.lr_scheduler.MultiStepLR`):
    FUSE-PV's epoch switch without L-BFGS, the control for "is the gain of the switch only
    annealing?"."""
    milestone, factor = settings["fuse_pv"]["switch_epoch"], settings["adam_decay"]["factor"]
    return Scheduled(
        torch.optim.Adam(params, lr=settings["adam"]["lr"]),
        "adam",
        partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[milestone], gamma=factor),
    )


def _sgd_cosine(params, settings) -> Scheduled:
    """SGD (the ``sgd`` block's rate and momentum) with cosine annealing over the run's
    epochs (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`, Loshchilov & Hutter
    2017): epoch :math:`e = 0, …, E-1` runs at :math:`\\eta (1 + \\cos(\\pi e / E)) / 2`,
    one of the schedules Schmidt, Schneider & Hennig (2021) tune SGD with."""
    return Scheduled(
        torch.optim.SGD(params, **settings["sgd"]),
        "sgd",
        partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=settings["epochs"]),
    )


def _lbfgs_same_batch(params, settings) -> FuseOptimizer:
    """L-BFGS as FUSE takes it (theta = 0 from the first step: curvature pairs from one
    batch), with the ``lbfgs`` block's settings, beside ``torch.optim.LBFGS``."""
    lbfgs = settings["lbfgs"]
    return FuseOptimizer(
        FUSE(
            params,
            theta=0.0,
            lbfgs_lr=lbfgs["lr"],
            **{key: lbfgs[key] for key in ("history_size", "max_iter", "max_eval")},
        )
    )


def _fuse_pv_official(params, settings) -> OfficialFusePV:
    return OfficialFusePV(params, settings["fuse_pv_official"])


_ADAM_LBFGS_KEYS = ("lr", "lbfgs_lr", "history_size", "max_iter", "max_eval")


def _fuse_settings(fp: dict[str, Any]) -> dict[str, Any]:
    """FUSE's Adam and L-BFGS settings and ``full_batch``, from a ``fuse_pv`` block."""
    full_batch = fp.get("full_batch", LATER_KEYS["fuse_pv"]["full_batch"])
    return {key: fp[key] for key in _ADAM_LBFGS_KEYS} | {"full_batch": full_batch}


def _fuse_pv(params, settings, rule: str, monitor: str = "train_loss") -> FuseOptimizer:
    """FUSE-PV with switch rule ``rule``; the loss rule watches ``monitor``."""
    fp = settings["fuse_pv"]
    rule_settings = (
        "switch_epoch",
        "grad_threshold",
        "grad_ratio",
        "warmup_epochs",
        "patience",
        "min_delta",
    )
    return FuseOptimizer(
        FUSE(
            params,
            switch=rule,
            **{key: fp[key] for key in rule_settings},
            **_fuse_settings(fp),
        ),
        monitor,
    )


def _fuse(params, settings, theta: float) -> FuseOptimizer:
    """Plain FUSE, every step blended with the constant ``theta`` (an argument: the toy
    grid lists the values to run); Adam and L-BFGS settings of ``fuse_pv``."""
    return FuseOptimizer(FUSE(params, theta=theta, **_fuse_settings(settings["fuse_pv"])))


# ------------------------------------------------------------------ registry
# The schemas of the settings blocks that several optimizers read.
SGD = {"lr": LEARNING_RATE, "momentum": Number(low=0.0, high=0.999)}
ADAM = {"lr": LEARNING_RATE}
LBFGS = {
    "lr": LEARNING_RATE,
    "history_size": POSITIVE_INT,
    "max_iter": POSITIVE_INT,
    "max_eval": POSITIVE_INT,
}
FUSE_PV = {
    "lr": LEARNING_RATE,
    "lbfgs_lr": LEARNING_RATE,
    "history_size": POSITIVE_INT,
    "max_iter": POSITIVE_INT,
    "max_eval": POSITIVE_INT,
    "switch_epoch": Number(integer=True, low=0),
    "grad_threshold": Number(low=0.0, positive=True),
    "grad_ratio": Number(low=0.0, high=1.0, positive=True),
    "warmup_epochs": Number(integer=True, low=0),
    "patience": POSITIVE_INT,
    "min_delta": Number(low=0.0, high=1.0),
    "full_batch": Boolean(),
}


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer of the experiments.

        ``settings``: the ``params.yaml`` blocks it reads, each with its schema.
        ``family``: ``first-order``, ``second-order`` or ``hybrid`` (first then second order,
        or a blend). ``switch``: the rule of a one-way switch (``epoch``, ``gradient``,
        ``loss``), None without one. ``build(params, settings, **arguments)``: the optimizer
        (None for a reference that is not a torch optimizer: the toy study runs ``scipy``
        itself). ``families``: the experiment families that run it. ``needs_validation``: it
    reads the validation split (a rule that watches the validation loss)."""

    name: str
    label: str
    family: str
    settings: dict[str, dict[str, Any]]
    build: Callable[..., TorchOptimizer] | None
    switch: str | None = None
    families: tuple[str, ...] = FAMILIES
    needs_validation: bool = False

    def identity(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The part of an experiment's ``settings`` that this optimizer's runs depend on:
        its blocks, less the :data:`LATER_KEYS` that hold their earlier value."""
        return {
            block: {
                key: value
                for key, value in settings[block].items()
                if LATER_KEYS.get(block, {}).get(key, _NONE) != value
            }
            for block in self.settings
        }


_NONE = object()
LATER_KEYS = {"sgd": {"momentum": 0.0}, "fuse_pv": {"grad_ratio": 0.1, "full_batch": False}}
"""Keys added to settings blocks after runs were stored, with the value that keeps what
those runs did (plain SGD; the ``relative_gradient`` rule's default, which no earlier run
read; mini-batches): such a key enters a run's identity only at another value, so adding
an option keeps every stored run valid (settings that predate it, as the golden logs',
read it at that value)."""


REGISTRY: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        OptimizerSpec(
            "sgd",
            "SGD",
            "first-order",
            {"sgd": SGD},
            torch_builder(torch.optim.SGD, "sgd"),
            families=("image", "toy"),
        ),
        OptimizerSpec(
            "adam", "Adam", "first-order", {"adam": ADAM}, torch_builder(torch.optim.Adam, "adam")
        ),
        OptimizerSpec("lbfgs", "L-BFGS", "second-order", {"lbfgs": LBFGS}, _lbfgs),
        OptimizerSpec(
            "adam_sgd",
            "Adam→SGD",
            "first-order",
            {"adam": ADAM, "sgd": SGD, "adam_sgd": {"switch_epoch": Number(integer=True, low=0)}},
            _adam_sgd,
            switch="epoch",
            families=("image",),
        ),
        *(
            OptimizerSpec(
                f"fuse_pv_{rule}",
                f"FUSE-PV ({rule.replace('_', ' ')})",
                "hybrid",
                {"fuse_pv": FUSE_PV},
                partial(_fuse_pv, rule=rule),
                switch=rule,
            )
            for rule in SWITCH_RULES
        ),
        OptimizerSpec(
            "fuse_pv_val_loss",
            "FUSE-PV (validation loss)",
            "hybrid",
            {"fuse_pv": FUSE_PV},
            partial(_fuse_pv, rule="loss", monitor="val_loss"),
            switch="loss",
            families=("image",),
            needs_validation=True,
        ),
        OptimizerSpec(
            "lbfgs_same_batch",
            "L-BFGS (same-batch pairs)",
            "second-order",
            {"lbfgs": LBFGS},
            _lbfgs_same_batch,
            families=("image",),
        ),
        OptimizerSpec(
            "adam_decay",
            "Adam, decayed at the switch",
            "first-order",
            {
                "adam": ADAM,
                "adam_decay": {"factor": Number(low=0.0, high=1.0, positive=True)},
                "fuse_pv": FUSE_PV,
            },
            _adam_decay,
            families=("image",),
        ),
        OptimizerSpec(
            "sgd_cosine",
            "SGD, cosine schedule",
            "first-order",
            {"sgd": SGD},
            _sgd_cosine,
            families=("image",),
        ),
        OptimizerSpec(
            "fuse_pv_official",
            "FUSE-PV (as the official code ran)",
            "hybrid",
            {
                "fuse_pv_official": {
                    **{key: FUSE_PV[key] for key in _ADAM_LBFGS_KEYS},
                    "adam_epochs": Number(integer=True, low=0),
                    "loss_threshold": Number(low=0.0, positive=True),
                }
            },
            _fuse_pv_official,
            families=("image",),
        ),
        OptimizerSpec(
            "fuse",
            "FUSE",
            "hybrid",
            {"fuse_pv": FUSE_PV},
            _fuse,
            families=("toy", "pinn"),
        ),
        OptimizerSpec(
            "scipy",
            "scipy L-BFGS-B (noise-free)",
            "second-order",
            {"lbfgs": LBFGS, "scipy": {"ftol": Number(low=0.0), "gtol": Number(low=0.0)}},
            None,
            families=("toy",),
        ),
    )
}

LABELS = {name: spec.label for name, spec in REGISTRY.items()}
FUSE_PV_RULES = tuple(f"fuse_pv_{rule}" for rule in PAPER_SWITCH_RULES)
"""FUSE-PV with each of the paper's switch rules (its epoch rule first): the rules its
claims compare."""


def names(family: str) -> tuple[str, ...]:
    """The optimizers that experiment family ``family`` can run, in registry order."""
    return tuple(name for name, spec in REGISTRY.items() if family in spec.families)


def settings_schema(family: str) -> dict[str, Any]:
    """The schema of the settings blocks that ``family``'s optimizers read."""
    return {
        block: schema for name in names(family) for block, schema in REGISTRY[name].settings.items()
    }


def build_optimizer(
    name: str, params: Iterable[torch.Tensor], settings: dict[str, Any], **arguments: Any
) -> TorchOptimizer:
    """The optimizer ``name`` with an experiment's ``settings`` (and grid ``arguments``,
    such as FUSE's ``theta``)."""
    spec = REGISTRY.get(name)
    if spec is None or spec.build is None:
        raise ValueError(f"unknown optimizer {name!r} (known: {sorted(REGISTRY)})")
    return spec.build(params, settings, **arguments)
