"""The optimizers compared in the experiments, behind one small interface.

Every optimizer built here has ``step(closure)``, ``end_epoch(train_loss)``, ``zero_grad()``
and ``phase`` (the update rule in use), so the training loop treats them alike:

* ``sgd``, ``adam``: :class:`torch.optim.SGD` / :class:`torch.optim.Adam`;
* ``lbfgs``: :class:`torch.optim.LBFGS` with strong-Wolfe line search, as the official
  code builds it (``history_size=10, max_eval=4``, default ``max_iter=20``, ``lr=1``);
* ``adam_sgd``: Adam, then plain SGD from ``switch_epoch`` on (official baseline, which
  switches at half the epochs);
* ``fuse_pv_epoch`` / ``fuse_pv_gradient`` / ``fuse_pv_loss``: :class:`fuse.FUSE` with
  that switch rule and the ``fuse_pv`` settings (params.yaml gives its L-BFGS phase the
  per-batch budget of ``lbfgs``: ``max_iter``, ``max_eval``); the loss rule watches the
  training loss;
* ``fuse``: :class:`fuse.FUSE` blending every step with the constant ``theta`` of the
  ``fuse`` settings (Adam and L-BFGS settings from ``fuse_pv``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from fuse import FUSE


class TorchOptimizer:
    """A torch optimizer with a constant phase name and a no-op epoch hook."""

    def __init__(self, optimizer: torch.optim.Optimizer, phase: str) -> None:
        self.optimizer, self.phase = optimizer, phase

    def step(self, closure: Callable[[], torch.Tensor]) -> Any:
        return self.optimizer.step(closure)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def end_epoch(self, train_loss: float) -> None:
        del train_loss

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this optimizer is (checkpoints)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)


class AdamThenSGD(TorchOptimizer):
    """Adam for ``switch_epoch`` epochs, then SGD: two optimizers, one-way switch."""

    def __init__(
        self, params: Iterable[torch.Tensor], adam_lr: float, sgd_lr: float, switch_epoch: int
    ) -> None:
        params = list(params)
        self.adam = torch.optim.Adam(params, lr=adam_lr)
        self.sgd = torch.optim.SGD(params, lr=sgd_lr)
        self.switch_epoch, self.epoch = switch_epoch, 0
        super().__init__(self.adam, "adam")
        self._switch_if_due()

    def end_epoch(self, train_loss: float) -> None:
        self.epoch += 1
        self._switch_if_due()

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
    """:class:`fuse.FUSE`; the phase is FUSE's own (``adam``, ``lbfgs`` or ``fuse``)."""

    def __init__(self, optimizer: FUSE) -> None:
        super().__init__(optimizer, optimizer.phase)

    def step(self, closure: Callable[[], torch.Tensor]) -> Any:
        loss = self.optimizer.step(closure)
        self.phase = self.optimizer.phase
        return loss

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)
        self.phase = self.optimizer.phase

    def end_epoch(self, train_loss: float) -> None:
        self.optimizer.end_epoch(monitored_loss=train_loss)
        self.phase = self.optimizer.phase


def build_optimizer(name: str, params: Iterable[torch.Tensor], config: dict[str, Any]):
    """The optimizer ``name`` with the hyper-parameters of an experiment ``config``."""
    if name == "sgd":
        return TorchOptimizer(torch.optim.SGD(params, lr=config["sgd"]["lr"]), "sgd")
    if name == "adam":
        return TorchOptimizer(torch.optim.Adam(params, lr=config["adam"]["lr"]), "adam")
    if name == "lbfgs":
        lb = config["lbfgs"]
        return TorchOptimizer(
            torch.optim.LBFGS(
                params,
                lr=lb["lr"],
                history_size=lb["history_size"],
                max_iter=lb["max_iter"],
                max_eval=lb["max_eval"],
                line_search_fn="strong_wolfe",
            ),
            "lbfgs",
        )
    if name == "adam_sgd":
        return AdamThenSGD(
            params, config["adam"]["lr"], config["sgd"]["lr"], config["adam_sgd"]["switch_epoch"]
        )
    if name.startswith("fuse_pv_"):
        fp = config["fuse_pv"]
        return FuseOptimizer(
            FUSE(
                params,
                switch=name.removeprefix("fuse_pv_"),
                switch_epoch=fp["switch_epoch"],
                grad_threshold=fp["grad_threshold"],
                warmup_epochs=fp["warmup_epochs"],
                patience=fp["patience"],
                min_delta=fp["min_delta"],
                **_fuse_settings(fp),
            )
        )
    if name == "fuse":
        return FuseOptimizer(
            FUSE(params, theta=config["fuse"]["theta"], **_fuse_settings(config["fuse_pv"]))
        )
    raise ValueError(f"unknown optimizer {name!r}")


def _fuse_settings(fp: dict[str, Any]) -> dict[str, Any]:
    """The Adam and L-BFGS settings of FUSE, from a ``fuse_pv`` block."""
    return dict(
        lr=fp["lr"],
        lbfgs_lr=fp["lbfgs_lr"],
        history_size=fp["history_size"],
        max_iter=fp["max_iter"],
        max_eval=fp["max_eval"],
    )
