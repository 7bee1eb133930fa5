r"""FUSE and FUSE-PV: Adam and L-BFGS in one :class:`torch.optim.Optimizer`.

Reference: Z. Jiang et al., *FUSE: First-Order and Second-Order Unified SynthEsis in
Stochastic Optimization*, IEEE CAI 2025 (arXiv:2503.04204).

The update (paper, Eq. for FUSE) blends a first-order and a second-order step taken from
the same point :math:`x_k`:

.. math::
    x_{k+1} = \theta_k\, x^{\mathrm{Adam}}_{k+1} + (1-\theta_k)\, x^{\mathrm{L\text{-}BFGS}}_{k+1},
    \qquad \theta_k \in [0, 1].

* :math:`x^{\mathrm{Adam}}_{k+1}` is exactly the step of :class:`torch.optim.Adam`
  (Kingma & Ba 2015, Alg. 1; the same functional kernel, so the same bits).
* :math:`x^{\mathrm{L\text{-}BFGS}}_{k+1} = x_k + t_k d_k` with :math:`d_k = -H_k g_k`,
  :math:`H_k` the L-BFGS inverse Hessian of the last ``m`` curvature pairs
  :math:`s_i = x_{i+1}-x_i,\ y_i = g_{i+1}-g_i` with initial matrix
  :math:`H^0_k = \gamma_k I,\ \gamma_k = s^\top y / y^\top y` (N&W Eq. 7.20): the matrix of
  the two-loop recursion (Nocedal & Wright 2006, Alg. 7.4), applied in its compact form
  (Byrd, Nocedal & Schnabel 1994, Eq. 3.1; :meth:`FUSE._direction`). The step length
  :math:`t_k` comes from a strong-Wolfe line search (N&W Alg. 3.5/3.6, cubic
  interpolation as in minFunc and :class:`torch.optim.LBFGS`, safeguarded so that every
  trial step is finite and inside its bracket) or is fixed.

**FUSE-PV** (the paper's practical version) is the schedule :math:`\theta_k = 1` until a
switch criterion fires and :math:`\theta_k = 0` afterwards, once and for good:

* ``switch="epoch"``: after ``switch_epoch`` epochs (or ``switch_step`` steps);
* ``switch="gradient"``: when the epoch mean of the gradient norm
  :math:`\bar g_e = \operatorname{mean}_{k \in e} \lVert g_k\rVert_2` (over all
  parameters, one value per step, at the step's starting point) falls below
  ``grad_threshold``, once ``warmup_epochs`` epochs are done (the paper's rule: its
  threshold has the units of the gradient);
* ``switch="relative_gradient"``: the same statistic relative to the first epoch's,
  :math:`\bar g_e / \bar g_1 <` ``grad_ratio``: invariant to a rescaling of the loss, so
  one setting means the same on every problem;
* ``switch="loss"``: when the monitored loss handed to :meth:`FUSE.end_epoch` has not
  improved by the relative amount ``min_delta`` for ``patience`` epochs, once
  ``warmup_epochs`` epochs are done.

Mini-batches. A curvature pair is formed from two gradients of the *same* mini-batch:
the line search (or, with a fixed step, one extra evaluation at :math:`x_{k+1}`) calls
the closure again on the batch it captured, so :math:`y_k = g_{B_k}(x_{k+1}) -
g_{B_k}(x_k)` measures curvature and not the noise between batches. This is the
multi-batch L-BFGS of Berahas, Nocedal & Takáč (NeurIPS 2016) with full overlap, as in
the online L-BFGS of Schraudolph, Yu & Günter (AISTATS 2007). A pair with
:math:`s^\top y \le \varepsilon\, s^\top s` (``curvature_eps``) would break the positive
definiteness of :math:`H_k`; it is skipped and counted.

Full batch. With a deterministic closure (``full_batch=True``) a step starts from the
loss and gradient the previous step accepted instead of evaluating the closure again,
so ``step()`` after ``step()`` costs the evaluations of one long L-BFGS run.

Robustness. A non-finite trial point of the line search is a failed trial, not a failed
step: it closes the bracket and the search bisects towards the last finite point. Only
a search that finds no point with sufficient decrease undoes the step and clears the
history; the next step then starts ten times shorter (per failure in a row), so a
failed search is never repeated.

GPU-first. The Adam phase never synchronises with the host. The L-BFGS phase reads the
device once per closure evaluation (one packed transfer of the scalars the line search
branches on), plus once per further iteration on the same batch; the direction costs
a fixed number of kernels whatever ``m`` (two products with the stacked history, two
triangular solves of size ``m``) and the history stays on the device; the pair test
reuses scalars already read. :class:`torch.optim.LBFGS` synchronises at least ``2m``
times per iteration in its two-loop recursion alone (``alpha=`` from a tensor), plus its
line search's tests, and launches about ``4m`` kernels for its direction.

Usage::

    opt = FUSE(model.parameters(), lr=1e-3, switch="epoch", switch_epoch=5)
    for epoch in range(epochs):
        for x, y in loader:
            def closure():
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                return loss
            opt.step(closure)
        opt.end_epoch(monitored_loss=val_loss)   # val_loss only needed for switch="loss"
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor
from torch.optim.adam import adam as adam_functional
from torch.optim.optimizer import Optimizer

__all__ = ["FUSE", "SWITCH_RULES", "PAPER_SWITCH_RULES", "LINE_SEARCHES", "gradient_norm"]

SWITCH_RULES = ("epoch", "gradient", "loss", "relative_gradient")
PAPER_SWITCH_RULES = SWITCH_RULES[:3]
"""The paper's three criteria; ``relative_gradient`` is this implementation's scale-free
variant of ``gradient``."""
LINE_SEARCHES = ("strong_wolfe", None)

_ADAM_PHASE, _LBFGS_PHASE, _BLEND_PHASE = "adam", "lbfgs", "fuse"


class _Point(NamedTuple):
    """A point :math:`x_0 + t d` of a line search: host scalars and device tensors."""

    t: float
    f: float  # loss (host)
    gtd: float  # directional derivative g^T d (host)
    g: Tensor  # flat gradient (device)
    loss: Tensor  # loss averaged over ranks, detached (device)
    closure_loss: Tensor  # the closure's own return value

    @property
    def finite(self) -> bool:
        return math.isfinite(self.f) and math.isfinite(self.gtd)


def _check(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ValueError(f"FUSE argument {name!r}: {message}")


def _check_numbers(**values: Any) -> None:
    """Each value must be a finite real number (a bool, a string or NaN is not)."""
    for name, value in values.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        _check(
            number and math.isfinite(value), name, f"must be a finite real number, got {value!r}"
        )


class FUSE(Optimizer):
    r"""FUSE / FUSE-PV optimizer (see the module docstring for the mathematics).

    Args:
        params: iterable of parameters or param groups. Adam hyper-parameters may differ
            per group; the L-BFGS phase treats all parameters as one flat vector.
        lr, betas, eps, weight_decay, amsgrad, foreach: as :class:`torch.optim.Adam`,
            with the same defaults.
        theta: blend weight :math:`\theta` of the FUSE update, a float in [0, 1] or a
            callable ``step -> float``. ``1`` is Adam, ``0`` is L-BFGS. Must stay ``1``
            when ``switch`` is set (FUSE-PV owns the schedule then).
        switch: ``None`` (plain FUSE with ``theta``) or one of :data:`SWITCH_RULES`.
        switch_epoch: epochs of Adam before the switch for ``switch="epoch"``.
        switch_step: steps of Adam before the switch for ``switch="epoch"``; replaces
            ``switch_epoch`` when given.
        grad_threshold: threshold on the epoch-mean gradient norm (``"gradient"``).
        grad_ratio: threshold on the epoch-mean gradient norm divided by the first
            epoch's (``"relative_gradient"``), in (0, 1].
        warmup_epochs: epochs before the ``"gradient"``, ``"relative_gradient"`` and
            ``"loss"`` rules may fire.
        patience: epochs without relative improvement ``min_delta`` (``"loss"``).
        min_delta: relative improvement of the monitored loss that resets the patience.
        lbfgs_lr: initial (line search) or fixed (``line_search=None``) step length;
            kept in every param group as ``"lbfgs_lr"`` (read at each iteration, saved by
            :meth:`state_dict`), like :class:`torch.optim.LBFGS`'s ``"lr"``.
        lbfgs_lr_scheduled: when ``True``, a :mod:`torch.optim.lr_scheduler` attached to
            this optimizer drives the L-BFGS step length too: it becomes
            ``lbfgs_lr * lr / initial_lr``, the factor by which the scheduler has scaled
            the learning rate ``lr``. ``False`` (default): schedulers drive Adam's ``lr``
            only, so a decayed Adam rate never shrinks the L-BFGS step after a switch.
        full_batch: ``True`` when every call of the closure evaluates the same function
            (the whole data set, or a deterministic objective). An L-BFGS step then
            starts from the loss and gradient its predecessor accepted, instead of
            calling the closure again at the same point (detected with the parameters'
            version counters: any in-place change of a parameter in between, by you or
            by a blend, makes FUSE evaluate afresh). Full-batch and deterministic users
            should set it (and may keep ``max_iter=1``: one iteration per step costs
            the same evaluations as many); keep ``False`` for mini-batches, where every
            step brings a new batch that must be evaluated.
        history_size: number ``m`` of curvature pairs kept.
        line_search: ``"strong_wolfe"`` or ``None`` (fixed step ``lbfgs_lr``).
        max_iter: L-BFGS iterations per :meth:`step` (on the one closure).
        max_eval: no further iteration starts in a :meth:`step` once it has used this
            many closure evaluations (``None``: no limit); as :class:`torch.optim.LBFGS`.
        max_ls: closure evaluations allowed in one line search.
        c1, c2: sufficient-decrease and curvature constants of the strong Wolfe conditions
            (N&W Eq. 3.7).
        tolerance_grad: an L-BFGS step does nothing when :math:`\lVert g\rVert_\infty` is
            at most this.
        tolerance_change: iterations within a step stop when the loss or the step
            changes by less than this.
        curvature_eps: pairs with :math:`s^\top y \le \varepsilon s^\top s` are skipped.
        distributed: average the closure's loss and the monitored loss of
            :meth:`end_epoch` over ``process_group`` (as DDP averages gradients), so every
            rank takes the same decisions. ``None``: on when :mod:`torch.distributed` is
            initialised with more than one process. Every rank must then call
            :meth:`step` and :meth:`end_epoch` alike (they are collective).
        process_group: the group to average over (default: the default group).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        theta: float | Callable[[int], float] = 1.0,
        switch: str | None = None,
        switch_epoch: int = 5,
        switch_step: int | None = None,
        grad_threshold: float = 0.5,
        grad_ratio: float = 0.1,
        warmup_epochs: int = 3,
        patience: int = 3,
        min_delta: float = 1e-3,
        lbfgs_lr: float = 1.0,
        history_size: int = 10,
        line_search: str | None = "strong_wolfe",
        max_iter: int = 1,
        max_eval: int | None = None,
        max_ls: int = 25,
        full_batch: bool = False,
        lbfgs_lr_scheduled: bool = False,
        c1: float = 1e-4,
        c2: float = 0.9,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        curvature_eps: float = 1e-8,
        distributed: bool | None = None,
        process_group: dist.ProcessGroup | None = None,
    ) -> None:
        _check_numbers(
            lr=float(lr) if isinstance(lr, Tensor) else lr,
            eps=eps,
            weight_decay=weight_decay,
            grad_threshold=grad_threshold,
            grad_ratio=grad_ratio,
            min_delta=min_delta,
            lbfgs_lr=lbfgs_lr,
            c1=c1,
            c2=c2,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            curvature_eps=curvature_eps,
        )
        _check(len(betas) == 2, "betas", f"must be two numbers, got {betas!r}")
        _check_numbers(betas=betas[0])
        _check_numbers(betas=betas[1])
        _check(lr >= 0.0, "lr", f"must be >= 0, got {lr}")
        _check(eps >= 0.0, "eps", f"must be >= 0, got {eps}")
        _check(
            len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
            "betas",
            f"must be two values in [0, 1), got {betas}",
        )
        _check(weight_decay >= 0.0, "weight_decay", f"must be >= 0, got {weight_decay}")
        _check(
            callable(theta) or 0.0 <= theta <= 1.0,
            "theta",
            f"must be in [0, 1] or a callable, got {theta}",
        )
        _check(
            switch is None or switch in SWITCH_RULES,
            "switch",
            f"must be None or one of {SWITCH_RULES}, got {switch!r}",
        )
        _check(
            switch is None or (not callable(theta) and theta == 1.0),
            "theta",
            "must stay 1 with a switch rule: FUSE-PV sets theta to 1, then 0",
        )
        _check(
            isinstance(switch_epoch, int) and switch_epoch >= 0,
            "switch_epoch",
            f"must be an int >= 0, got {switch_epoch!r}",
        )
        _check(
            switch_step is None or (isinstance(switch_step, int) and switch_step >= 0),
            "switch_step",
            f"must be None or an int >= 0, got {switch_step!r}",
        )
        _check(grad_threshold > 0.0, "grad_threshold", f"must be > 0, got {grad_threshold}")
        _check(0.0 < grad_ratio <= 1.0, "grad_ratio", f"must be in (0, 1], got {grad_ratio}")
        _check(
            isinstance(warmup_epochs, int) and warmup_epochs >= 0,
            "warmup_epochs",
            f"must be an int >= 0, got {warmup_epochs!r}",
        )
        _check(
            isinstance(patience, int) and patience >= 1,
            "patience",
            f"must be an int >= 1, got {patience!r}",
        )
        _check(min_delta >= 0.0, "min_delta", f"must be >= 0, got {min_delta}")
        _check(
            lbfgs_lr > 0.0 and math.isfinite(lbfgs_lr),
            "lbfgs_lr",
            f"must be finite and > 0, got {lbfgs_lr}",
        )
        _check(
            isinstance(history_size, int) and history_size >= 1,
            "history_size",
            f"must be an int >= 1, got {history_size!r}",
        )
        _check(
            line_search in LINE_SEARCHES,
            "line_search",
            f"must be one of {LINE_SEARCHES}, got {line_search!r}",
        )
        _check(
            isinstance(max_iter, int) and max_iter >= 1,
            "max_iter",
            f"must be an int >= 1, got {max_iter!r}",
        )
        _check(
            max_eval is None or (isinstance(max_eval, int) and max_eval >= 1),
            "max_eval",
            f"must be None or an int >= 1, got {max_eval!r}",
        )
        _check(
            isinstance(max_ls, int) and max_ls >= 1,
            "max_ls",
            f"must be an int >= 1, got {max_ls!r}",
        )
        _check(0.0 < c1 < c2 < 1.0, "c1, c2", f"need 0 < c1 < c2 < 1, got {c1}, {c2}")
        _check(tolerance_grad >= 0.0, "tolerance_grad", "must be >= 0")
        _check(tolerance_change >= 0.0, "tolerance_change", "must be >= 0")
        _check(curvature_eps >= 0.0, "curvature_eps", "must be >= 0")

        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=False,
            capturable=False,
            differentiable=False,
            fused=None,
            lbfgs_lr=lbfgs_lr,
        )
        super().__init__(params, defaults)

        self._theta = theta
        self._switch = switch
        self._switch_epoch = switch_epoch
        self._switch_step = switch_step
        self._grad_threshold = grad_threshold
        self._grad_ratio = grad_ratio
        self._warmup_epochs = warmup_epochs
        self._patience = patience
        self._min_delta = min_delta
        self._full_batch = full_batch
        self._lbfgs_lr_scheduled = lbfgs_lr_scheduled
        self._last_evaluation: tuple[tuple[int, ...], tuple[Tensor, Tensor, Tensor]] | None = None
        self._history_size = history_size
        self._line_search = line_search
        self._max_iter = max_iter
        self._max_eval = max_eval
        self._max_ls = max_ls
        self._c1, self._c2 = c1, c2
        self._tolerance_grad = tolerance_grad
        self._tolerance_change = tolerance_change
        self._curvature_eps = curvature_eps
        self._distributed = distributed
        self._process_group = process_group

        self._params = [p for group in self.param_groups for p in group["params"]]
        self._sizes = [p.numel() for p in self._params]
        self._needs_lbfgs = switch is not None or callable(theta) or theta < 1.0
        if self._needs_lbfgs:
            self._check_flat_vector()
        self._fuse = self._initial_fuse_state()
        if switch == "epoch":
            self._apply_epoch_rule()  # switch_epoch=0 / switch_step=0: L-BFGS from the start

    # ------------------------------------------------------------------ state
    def _initial_fuse_state(self) -> dict[str, Any]:
        """Optimizer-wide state: phase, schedule bookkeeping, counters, L-BFGS history."""
        return {
            "phase": _ADAM_PHASE if self._switch is not None else None,
            "step": 0,
            "epoch": 0,
            "switch_step": None,
            "switch_epoch": None,
            "switch_reason": None,
            "closure_evals": 0,
            "reused_evaluations": 0,
            "lbfgs_iterations": 0,
            "skipped_pairs": 0,
            "nonfinite_trials": 0,
            "line_search_failures": 0,
            "failed_searches_in_a_row": 0,
            "nonfinite_recoveries": 0,
            "indefinite_resets": 0,
            # rule bookkeeping
            "grad_norm_sum": None,  # device tensor, sum of per-step gradient norms
            "grad_norm_steps": 0,
            "last_epoch_grad_norm": None,
            "first_epoch_grad_norm": None,
            "best_loss": None,
            "epochs_without_improvement": 0,
            "nonfinite_monitored_losses": 0,
            # L-BFGS history (see _ensure_history): pairs W, their products, gamma
            "W": None,
            "products": None,
            "gamma": None,
            "history_len": 0,
            "history_next": 0,
            "products_len": 0,
            "pending_pair": False,
        }

    def state_dict(self) -> dict[str, Any]:
        """Adam per-parameter state and param groups (as torch), plus key ``"fuse"``: the
        phase, counters and a copy of the L-BFGS history (later steps do not change it)."""
        state = super().state_dict()
        state["fuse"] = {
            k: (v.clone() if isinstance(v, Tensor) else v) for k, v in self._fuse.items()
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (from either phase) onto these parameters."""
        state_dict = dict(state_dict)
        fuse_state = state_dict.pop("fuse", None)
        if fuse_state is None:
            raise KeyError(
                "FUSE.load_state_dict: the state dict has no 'fuse' entry; "
                "it was not saved by FUSE.state_dict()"
            )
        self._check_fits(state_dict, fuse_state)
        super().load_state_dict(state_dict)
        device = self._params[0].device
        self._fuse = self._initial_fuse_state() | {  # keys a newer FUSE added: their start
            k: (v.to(device=device, copy=True) if isinstance(v, Tensor) else v)
            for k, v in fuse_state.items()
        }
        self._last_evaluation = None

    def _check_fits(self, state_dict: dict[str, Any], fuse_state: dict[str, Any]) -> None:
        """A state dict that was saved for other parameters is refused, naming what
        differs: the number of parameters, a shape or a dtype of Adam's moments, the
        size or dtype of the L-BFGS history, or ``history_size``."""
        saved_ids = [i for group in state_dict["param_groups"] for i in group["params"]]
        if len(saved_ids) != len(self._params):
            raise ValueError(
                f"FUSE.load_state_dict: the state dict holds {len(saved_ids)} "
                f"parameters, this optimizer has {len(self._params)}"
            )
        for index, (saved_id, p) in enumerate(zip(saved_ids, self._params)):
            moment = state_dict["state"].get(saved_id, {}).get("exp_avg")
            if moment is not None and (moment.shape != p.shape or moment.dtype != p.dtype):
                raise ValueError(
                    f"FUSE.load_state_dict: parameter {index} is "
                    f"{tuple(p.shape)} {p.dtype}, the state dict's is "
                    f"{tuple(moment.shape)} {moment.dtype}"
                )
        history = fuse_state.get("W")
        if history is None:
            return
        if history.shape[0] != 2 * self._history_size:
            raise ValueError(
                f"FUSE argument 'history_size': the state dict was saved with "
                f"history_size={history.shape[0] // 2}, this optimizer has "
                f"{self._history_size}"
            )
        n, row = sum(self._sizes), history.shape[1]
        p0 = self._params[0]
        if not n <= row < n + 64 // p0.element_size() or history.dtype != p0.dtype:
            raise ValueError(
                f"FUSE.load_state_dict: the L-BFGS history was saved for "
                f"{row} values of {history.dtype} (padded), these parameters "
                f"are {n} values of {p0.dtype}"
            )

    # ------------------------------------------------------------ observers
    @property
    def phase(self) -> str:
        """``"adam"`` or ``"lbfgs"`` (FUSE-PV, or a constant ``theta`` of 1 or 0), else
        ``"fuse"`` (a blend)."""
        if self._fuse["phase"] is not None:
            return self._fuse["phase"]
        constant = {1.0: _ADAM_PHASE, 0.0: _LBFGS_PHASE}
        return _BLEND_PHASE if callable(self._theta) else constant.get(self._theta, _BLEND_PHASE)

    @property
    def counters(self) -> dict[str, Any]:
        """Host-side counters; reading them never synchronises with the device.
        ``switch_step`` / ``switch_epoch``: steps and epochs completed when FUSE-PV
        switched (a switch inside epoch 3 by ``switch_step`` reads ``switch_epoch=2``).
        ``closure_evals``: calls of the closure; ``reused_evaluations``: steps that
        started from the previous step's point instead (``full_batch``);
        ``history_len``: curvature pairs held; ``nonfinite_trials``: line-search trials
        with a non-finite loss or slope (the search went on); ``line_search_failures``:
        searches that found no point with sufficient decrease (the step was undone and
        the history cleared); ``nonfinite_recoveries``: steps whose starting point was
        not finite (undone, history cleared); ``indefinite_resets``: steps whose direction
        was not a descent direction although the gradient was not zero (the history had
        lost positive definiteness by rounding; cleared)."""
        keys = (
            "phase",
            "step",
            "epoch",
            "switch_step",
            "switch_epoch",
            "switch_reason",
            "closure_evals",
            "reused_evaluations",
            "lbfgs_iterations",
            "history_len",
            "skipped_pairs",
            "nonfinite_trials",
            "line_search_failures",
            "nonfinite_recoveries",
            "indefinite_resets",
        )
        return {k: (self.phase if k == "phase" else self._fuse[k]) for k in keys}

    # ------------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One FUSE step: Adam, L-BFGS or their blend, by the schedule of ``theta``.

        ``closure`` clears the gradients, evaluates the loss on the current mini-batch,
        calls ``backward()`` and returns the loss. Adam needs it only to return the
        loss; an L-BFGS or blended step calls it several times on the same batch.
        Returns the closure's loss at :math:`x_k` (this rank's, as torch optimizers do);
        ``p.grad`` afterwards holds the gradient of the last evaluation.
        """
        fuse = self._fuse
        if closure is None and self._needs_lbfgs:
            raise TypeError(
                "FUSE.step: this optimizer will take L-BFGS steps (theta < 1 or "
                "a switch rule), which re-evaluate the mini-batch: pass the "
                "argument 'closure' from the first step on"
            )
        theta = self._current_theta()
        if theta == 1.0:
            loss = self._adam_step(closure)
            self._last_evaluation = None
        else:
            loss = self._lbfgs_or_blend_step(closure, theta)
        fuse["step"] += 1
        return loss

    def end_epoch(self, monitored_loss: float | Tensor | None = None) -> bool:
        """Mark the end of an epoch; apply the epoch-level switch rules.

        Args:
            monitored_loss: the loss the ``"loss"`` rule watches (training or validation),
                required by that rule until it switches, ignored otherwise.

        Returns:
            True when this call switched FUSE-PV to the L-BFGS phase.
        """
        fuse = self._fuse
        fuse["epoch"] += 1
        rule = self._switch
        if fuse["phase"] != _ADAM_PHASE:
            return False
        if rule == "epoch":
            return self._apply_epoch_rule()
        warm = fuse["epoch"] >= self._warmup_epochs
        if rule == "gradient":
            self._close_gradient_epoch()
            if warm and fuse["last_epoch_grad_norm"] < self._grad_threshold:
                return self._switch_to_lbfgs(
                    f"epoch-mean gradient norm {fuse['last_epoch_grad_norm']:.4g} < "
                    f"grad_threshold={self._grad_threshold}"
                )
        if rule == "relative_gradient":
            self._close_gradient_epoch()
            first = fuse["first_epoch_grad_norm"]
            ratio = fuse["last_epoch_grad_norm"] / first if first > 0.0 else 0.0
            if warm and ratio < self._grad_ratio:
                return self._switch_to_lbfgs(
                    f"epoch-mean gradient norm {ratio:.4g} of the first epoch's < "
                    f"grad_ratio={self._grad_ratio}"
                )
        if rule == "loss":
            if monitored_loss is None:
                raise TypeError("FUSE.end_epoch: switch='loss' needs the argument 'monitored_loss'")
            self._track_loss(self._all_ranks_mean(monitored_loss))
            if warm and fuse["epochs_without_improvement"] >= self._patience:
                return self._switch_to_lbfgs(
                    f"no relative improvement > {self._min_delta} in the monitored loss "
                    f"for {fuse['epochs_without_improvement']} epochs "
                    f"(patience={self._patience})"
                )
        return False

    # ------------------------------------------------------------- schedule
    def _current_theta(self) -> float:
        fuse = self._fuse
        if self._switch is None:
            theta = self._theta(fuse["step"]) if callable(self._theta) else self._theta
            theta = float(theta)
            _check(0.0 <= theta <= 1.0, "theta", f"schedule gave {theta} at step {fuse['step']}")
            return theta
        if fuse["phase"] == _ADAM_PHASE and self._switch == "epoch":
            self._apply_epoch_rule()
        return 1.0 if fuse["phase"] == _ADAM_PHASE else 0.0

    def _apply_epoch_rule(self) -> bool:
        """``switch="epoch"``: switch once ``switch_step`` steps or ``switch_epoch``
        epochs are done (checked before each step and at each epoch's end)."""
        fuse = self._fuse
        if self._switch_step is not None:
            if fuse["step"] >= self._switch_step:
                return self._switch_to_lbfgs(
                    f"step {fuse['step']} >= switch_step={self._switch_step}"
                )
        elif fuse["epoch"] >= self._switch_epoch:
            return self._switch_to_lbfgs(
                f"epoch {fuse['epoch']} >= switch_epoch={self._switch_epoch}"
            )
        return False

    def _switch_to_lbfgs(self, reason: str) -> bool:
        fuse = self._fuse
        fuse.update(
            phase=_LBFGS_PHASE,
            switch_step=fuse["step"],
            switch_epoch=fuse["epoch"],
            switch_reason=reason,
        )
        return True

    def _track_loss(self, loss: Tensor) -> None:
        """Patience bookkeeping of the ``"loss"`` rule (one host read per epoch). A
        non-finite value is skipped (counted): a diverged loss is no sign of a plateau."""
        fuse = self._fuse
        value = float(loss)
        if not math.isfinite(value):  # no information: neither progress nor patience
            fuse["nonfinite_monitored_losses"] += 1
            return
        best = fuse["best_loss"]
        if best is None or value < best - self._min_delta * abs(best):
            fuse["best_loss"], fuse["epochs_without_improvement"] = value, 0
        else:
            fuse["epochs_without_improvement"] += 1

    def _close_gradient_epoch(self) -> None:
        """Epoch mean of the per-step gradient norms (one host read per epoch); the first
        epoch's is kept as the reference of ``"relative_gradient"``."""
        fuse = self._fuse
        if fuse["grad_norm_steps"] > 0:
            fuse["last_epoch_grad_norm"] = float(fuse["grad_norm_sum"]) / fuse["grad_norm_steps"]
        else:
            fuse["last_epoch_grad_norm"] = math.inf
        if fuse["first_epoch_grad_norm"] is None:
            fuse["first_epoch_grad_norm"] = fuse["last_epoch_grad_norm"]
        fuse["grad_norm_sum"], fuse["grad_norm_steps"] = None, 0

    # ------------------------------------------------------------ Adam phase
    def _adam_step(self, closure: Callable[[], Tensor] | None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
            self._fuse["closure_evals"] += 1
        grads_seen = []
        for group in self.param_groups:
            params, grads = [], []
            for p in group["params"]:
                if p.grad is not None:
                    params.append(p)
                    grads.append(p.grad)
            self._adam_update(group, params, grads)
            grads_seen += grads
        if self._switch in ("gradient", "relative_gradient") and grads_seen:
            self._accumulate_grad_norm(grads_seen)
        return loss

    def _adam_update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]
    ) -> None:
        """Exactly :class:`torch.optim.Adam`'s update, through its functional kernel."""
        if not params:
            return
        exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = [], [], [], []
        for p in params:
            if p.grad is not None and p.grad.is_sparse:
                raise RuntimeError("FUSE does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                # Same lazy initialisation as torch.optim.Adam: step on the host.
                state["step"] = torch.tensor(0.0, dtype=_host_step_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        beta1, beta2 = group["betas"]
        adam_functional(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            max_exp_avg_sqs,
            steps,
            foreach=group["foreach"],
            amsgrad=group["amsgrad"],
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
            has_complex=any(torch.is_complex(p) for p in params),
        )

    def _accumulate_grad_norm(self, grads: list[Tensor]) -> None:
        """Add :math:`\\lVert g\\rVert_2` of this step to a device accumulator (no sync)."""
        fuse = self._fuse
        norm = gradient_norm(grads)
        fuse["grad_norm_sum"] = (
            norm if fuse["grad_norm_sum"] is None else fuse["grad_norm_sum"] + norm
        )
        fuse["grad_norm_steps"] += 1

    # ----------------------------------------------------------- L-BFGS phase
    def _lbfgs_or_blend_step(self, closure: Callable[[], Tensor], theta: float) -> Tensor:
        """L-BFGS iterations from :math:`x_k` (``max_iter`` of them when ``theta == 0``,
        one when blending), then :math:`x_{k+1} = \\theta x^{Adam} + (1-\\theta)
        x^{L-BFGS}` (a no-op blend when ``theta == 0``)."""
        fuse = self._fuse
        self._ensure_history()
        x_k = x_start = self._flat_params()
        evals_before = fuse["closure_evals"]
        here = self._reusable_evaluation() if theta == 0.0 else None
        if here is None:
            here = self._evaluate(closure)
        else:
            fuse["reused_evaluations"] += 1
        closure_loss, loss, g = here
        g_k = g
        t, d = 0.0, None
        for _ in range(self._max_iter if theta == 0.0 else 1):
            d = self._direction(g)
            f, gtd, g_max, d_max, dd = self._to_host(
                loss, g.dot(d), g.abs().max(), d.abs().max(), d.dot(d)
            )
            if not (math.isfinite(f) and math.isfinite(gtd)):
                self._recover(x_start)
                if x_start is x_k:  # this batch's loss or gradient at x_k: no Adam step
                    return closure_loss
                t, d = 0.0, None
                break
            if g_max <= self._tolerance_grad:
                t, d = 0.0, None
                break
            if gtd >= 0.0 and fuse["history_len"] > 0:
                # H lost positive definiteness (a pair's device s'y rounded to <= 0, though
                # its host test passed): drop the history; the next step starts afresh.
                self._clear_history()
                fuse["indefinite_resets"] += 1
                t, d = 0.0, None
                break
            if gtd > -self._tolerance_change:  # no descent left along d (as torch)
                t, d = 0.0, None
                break
            fuse["lbfgs_iterations"] += 1
            start = _Point(0.0, f, gtd, g, loss, closure_loss)
            t0 = self._initial_step(g, d, dd)
            point = self._take_step(closure, x_start, d, t0, start, d_max)
            if point is None:  # no usable point: back to x_start, fresh history, shorter t0
                self._set_params(x_start, None, 0.0)
                self._clear_history()
                fuse["failed_searches_in_a_row"] += 1
                t, d = 0.0, None
                break
            fuse["failed_searches_in_a_row"] = 0
            t = point.t
            self._store_pair(t, d, g, point.g, ys_host=t * (point.gtd - gtd), ss_host=t * t * dd)
            converged = (
                abs(point.f - f) < self._tolerance_change or t * d_max <= self._tolerance_change
            )
            loss, g, here = point.loss, point.g, (point.closure_loss, point.loss, point.g)
            out_of_evals = (
                self._max_eval is not None
                and fuse["closure_evals"] - evals_before >= self._max_eval
            )
            if converged or out_of_evals:
                break
            x_start = torch.add(x_start, d, alpha=t)
        if 0.0 < theta < 1.0:
            self._blend(x_k, g_k, t, d, theta)
        elif self._full_batch:
            self._remember_evaluation(here)
        return closure_loss

    def _initial_step(self, g: Tensor, d: Tensor, dd: float) -> float:
        """First trial step :math:`t_0` of an iteration: the group's ``lbfgs_lr`` (times the
        scheduler's factor when ``lbfgs_lr_scheduled``), times ``0.1`` per line search that
        failed in a row before (so that a failed search is never repeated), times
        :meth:`_initial_trial_step` when the history is empty."""
        fuse = self._fuse
        t0 = self._lbfgs_lr() * 0.1 ** fuse["failed_searches_in_a_row"]
        if fuse["history_len"] == 0:
            t0 *= self._initial_trial_step(g, d, dd)
        return t0

    def _initial_trial_step(self, g: Tensor, d: Tensor, dd: float) -> float:
        """Scale of the first trial step when the history is empty (``d = -g``, not yet
        scaled by any curvature): :math:`\\min(1, 1/\\lVert d\\rVert_2)`, so that the first
        trial moves the parameters by at most ``lbfgs_lr``, as L-BFGS-B does on its first
        iteration (Byrd, Lu, Nocedal & Zhu 1995), from ``dd`` :math:`= d^\\top d` already on
        the host. :class:`torch.optim.LBFGS` uses :math:`\\min(1, 1/\\lVert g\\rVert_1)`,
        up to :math:`\\sqrt{n}` times smaller. Measured on both image experiments
        (``benchmarks/first_step.py``): the choice changes the loss after that one
        iteration by at most 0.03 and the final results not beyond the seeds' spread; the
        jump of the logged training loss after FUSE-PV's switch on CIFAR-10 comes from
        batch norm's running statistics lagging behind the fast-moving parameters (the
        loss with recomputed statistics falls without a break), not from this step."""
        del g, d
        return min(1.0, 1.0 / math.sqrt(dd))

    def _lbfgs_lr(self) -> float:
        """The L-BFGS step length of the param groups (they must agree: one flat vector)."""
        values = set()
        for group in self.param_groups:
            lr = group["lbfgs_lr"]
            if self._lbfgs_lr_scheduled and "initial_lr" in group:
                lr = lr * group["lr"] / group["initial_lr"]
            values.add(float(lr))
        _check(
            len(values) == 1,
            "lbfgs_lr",
            f"the param groups disagree ({sorted(values)}); the L-BFGS phase takes one "
            "step length for all parameters",
        )
        (lr,) = values
        _check(math.isfinite(lr) and lr > 0.0, "lbfgs_lr", f"must be > 0, got {lr}")
        return lr

    # -------------------------------------------- full batch: reuse the last point
    def _remember_evaluation(self, here: tuple[Tensor, Tensor, Tensor]) -> None:
        """Keep the loss and gradient at the parameters as they are now, with the
        parameters' version counters (host integers, bumped by any in-place change)."""
        self._last_evaluation = (self._param_versions(), here)

    def _reusable_evaluation(self) -> tuple[Tensor, Tensor, Tensor] | None:
        """With ``full_batch``: the remembered evaluation if no parameter changed since."""
        if not self._full_batch or self._last_evaluation is None:
            return None
        versions, here = self._last_evaluation
        self._last_evaluation = None
        return here if versions == self._param_versions() else None

    def _param_versions(self) -> tuple[int, ...]:
        return tuple(p._version for p in self._params)

    # ------------------------------------------------------------- line search
    def _take_step(
        self, closure, x0: Tensor, d: Tensor, t0: float, start: _Point, d_max: float
    ) -> _Point | None:
        """Step along ``d`` from ``x0``: the accepted point, with the parameters left
        there, or ``None`` when no usable point was found (parameters undefined)."""
        if self._line_search is None:
            point = self._trial(closure, x0, d, t0)
            if point.finite:
                return point
            self._fuse["nonfinite_trials"] += 1
            self._fuse["line_search_failures"] += 1
            return None
        return self._strong_wolfe(closure, x0, d, t0, start, d_max)

    def _trial(self, closure, x0: Tensor, d: Tensor, t: float) -> _Point:
        """Evaluate the closure at :math:`x_0 + t d`: one host read of :math:`(f, g^\\top d)`."""
        self._set_params(x0, d, t)
        closure_loss, loss, g = self._evaluate(closure)
        f, gtd = self._to_host(loss, g.dot(d))
        return _Point(t, f, gtd, g, loss, closure_loss)

    def _strong_wolfe(
        self, closure, x0: Tensor, d: Tensor, t: float, start: _Point, d_max: float
    ) -> _Point | None:
        """Strong-Wolfe line search: bracketing (N&W Alg. 3.5), then zoom (Alg. 3.6).

        Accepts :math:`t` with :math:`f(x_0+td) \\le f_0 + c_1 t g_0^\\top d` and
        :math:`|g(x_0+td)^\\top d| \\le c_2 |g_0^\\top d|` (N&W Eq. 3.7). Trial steps are
        minimisers of the cubic through two points' values and slopes (N&W Eq. 3.59),
        safeguarded as in minFunc and :class:`torch.optim.LBFGS`, and always finite and
        inside their bracket (:func:`_cubic_minimizer`). A non-finite trial is a failed
        trial: it closes the bracket, and the next trials bisect towards the last finite
        point. When the evaluations run out the search returns the lowest point with
        sufficient decrease, or ``None`` (a counted failure) when there is none.
        """
        f0, gtd0, c1, c2 = start.f, start.gtd, self._c1, self._c2

        def sufficient_decrease(p: _Point) -> bool:
            return p.finite and p.f <= f0 + c1 * p.t * gtd0

        def curvature(p: _Point) -> bool:
            return abs(p.gtd) <= -c2 * gtd0

        prev, best, evals = start, None, 0
        low = high = None
        while evals < self._max_ls:
            point = self._counted_trial(closure, x0, d, t)
            evals += 1
            if not sufficient_decrease(point) or (evals > 1 and point.f >= prev.f):
                low, high = prev, point
                break
            if curvature(point):
                return point
            best = point
            if point.gtd >= 0:
                low, high = point, prev
                break
            t = _cubic_minimizer(
                prev.t,
                prev.f,
                prev.gtd,
                point.t,
                point.f,
                point.gtd,
                bounds=(point.t + 0.01 * (point.t - prev.t), 10.0 * point.t),
            )
            prev = point
        insufficient_progress = False
        while low is not None and evals < self._max_ls:
            a, b = min(low.t, high.t), max(low.t, high.t)
            if (b - a) * d_max <= self._tolerance_change:
                break
            t = _cubic_minimizer(low.t, low.f, low.gtd, high.t, high.f, high.gtd)
            # Keep t at least a tenth of the bracket from its ends (minFunc's safeguard).
            margin = 0.1 * (b - a)
            if min(b - t, t - a) < margin:
                if insufficient_progress or t >= b or t <= a:
                    t = b - margin if abs(t - b) < abs(t - a) else a + margin
                    insufficient_progress = False
                else:
                    insufficient_progress = True
            else:
                insufficient_progress = False
            point = self._counted_trial(closure, x0, d, t)
            evals += 1
            if not sufficient_decrease(point) or point.f >= low.f:
                high = point
                continue
            if curvature(point):
                return point
            if point.gtd * (high.t - low.t) >= 0:
                high = low
            low = best = point
        if best is None:
            self._fuse["line_search_failures"] += 1
            return None
        self._set_params(x0, d, best.t)
        return best

    def _counted_trial(self, closure, x0: Tensor, d: Tensor, t: float) -> _Point:
        """A trial of the line search; a non-finite one is counted and marked
        :math:`f = +\\infty` (a value, not an error: it bounds the bracket)."""
        point = self._trial(closure, x0, d, t)
        if point.finite:
            return point
        self._fuse["nonfinite_trials"] += 1
        return point._replace(f=math.inf, gtd=math.nan)

    def _blend(self, x_k: Tensor, g_k: Tensor, t: float, d: Tensor | None, theta: float) -> None:
        """:math:`x_{k+1} = \\theta x^{Adam}_{k+1} + (1-\\theta)(x_k + t d_k)`, the Adam
        step taken from :math:`x_k` with the gradient :math:`g_k` of the same batch."""
        params = self._params
        self._set_params(x_k, None, 0.0)
        grad_of = {id(p): gv for p, gv in zip(params, self._unflatten(g_k))}
        for group in self.param_groups:
            self._adam_update(group, group["params"], [grad_of[id(p)] for p in group["params"]])
        torch._foreach_mul_(params, theta)
        torch._foreach_add_(params, self._unflatten(x_k), alpha=1.0 - theta)
        if d is not None:
            torch._foreach_add_(params, self._unflatten(d), alpha=(1.0 - theta) * t)

    # ------------------------------------------- history: compact representation
    def _ensure_history(self) -> None:
        """Allocate the history on the parameters' device: ``W`` (2m x n, rows
        :math:`s_i` then :math:`y_i`, one slot per pair, circular); ``products``
        (2 x m x m, float64, oldest pair first): ``products[0]`` the upper triangle of
        :math:`S^\\top Y` (:math:`s_i^\\top y_j`, :math:`i \\le j`; zero below),
        ``products[1]`` :math:`Y^\\top Y`; and :math:`\\gamma` of the newest pair."""
        fuse = self._fuse
        if fuse["W"] is None:
            self._check_flat_vector()
            p = self._params[0]
            m = self._history_size
            # Rows padded to 64 bytes: a row starting off a 16-byte boundary makes the
            # vectorised products several times slower (measured with MKL on x86).
            row = -(-sum(self._sizes) * p.element_size() // 64) * 64 // p.element_size()
            fuse["W"] = torch.zeros(2 * m, row, dtype=p.dtype, device=p.device)
            fuse["products"] = torch.zeros(2, m, m, dtype=torch.float64, device=p.device)
            fuse["gamma"] = torch.ones((), dtype=torch.float64, device=p.device)

    def _clear_history(self) -> None:
        fuse = self._fuse
        fuse.update(history_len=0, history_next=0, products_len=0, pending_pair=False)

    def _oldest_slot(self) -> int:
        fuse = self._fuse
        return (fuse["history_next"] - fuse["history_len"]) % self._history_size

    def _chronological(self, slot_values: Tensor) -> Tensor:
        """``(..., m)`` values per slot -> the held pairs' values, oldest first."""
        return slot_values.roll(-self._oldest_slot(), dims=-1)[..., : self._fuse["history_len"]]

    def _direction(self, g: Tensor) -> Tensor:
        """:math:`d = -H g` from the compact representation of Byrd, Nocedal & Schnabel
        (1994, Eq. 3.1 for the inverse Hessian): with the ``L`` held pairs oldest first,
        :math:`R = \\mathrm{triu}(S^\\top Y)`, :math:`D = \\mathrm{diag}(S^\\top Y)`,
        :math:`\\gamma = s^\\top y / y^\\top y` of the newest pair (N&W Eq. 7.20),
        :math:`p = S^\\top g`, :math:`q = Y^\\top g`, :math:`u = R^{-1} p`:

        .. math::
            H g = \\gamma g + S R^{-\\top}\\big((D + \\gamma Y^\\top Y) u - \\gamma q\\big)
                  - \\gamma Y u.

        The same :math:`H` as the two-loop recursion (N&W Alg. 7.4), in a fixed number of
        kernels: one product of ``W`` with :math:`g` (with the newest pair's :math:`y`
        too when its products are pending), two triangular solves of size ``L``, one
        product back. No host synchronisation."""
        fuse = self._fuse
        L = fuse["history_len"]
        if L == 0:
            return g.neg()
        n, m = g.numel(), self._history_size
        W = fuse["W"][:, :n]
        if fuse["pending_pair"]:
            w_y, wg = torch.mm(torch.stack((W[m + self._newest_slot()], g)), W.T)
            self._extend_products(w_y)
        else:
            wg = torch.mv(W, g)
        p, q = self._chronological(wg.view(2, m).to(torch.float64)).unsqueeze(-1)
        R, YY = fuse["products"][:, :L, :L]
        gamma = fuse["gamma"]
        u = torch.linalg.solve_triangular(R, p, upper=True)
        rhs = torch.addmm(q.neg(), YY, u).mul_(gamma).addcmul_(R.diagonal().unsqueeze(1), u)
        top = torch.linalg.solve_triangular(R.T, rhs, upper=False)
        chronological = torch.cat((top, u.mul(-gamma)), dim=1).T  # 2 x L, oldest first
        coefficients = torch.nn.functional.pad(chronological, (0, m - L))
        coefficients = coefficients.roll(self._oldest_slot(), dims=1).view(2 * m)
        return torch.addmv(g * gamma, W.T, coefficients.to(g.dtype)).neg_()

    def _store_pair(
        self, t: float, d: Tensor, g: Tensor, g_new: Tensor, ys_host: float, ss_host: float
    ) -> None:
        """Write :math:`(s, y) = (t d, g_{new} - g)` into the next slot unless
        :math:`s^\\top y \\le \\varepsilon s^\\top s` (tested on host scalars the line search
        already read). Its products with the other pairs are computed with the next
        direction, in the same pass over ``W`` (:meth:`_direction`)."""
        fuse = self._fuse
        if not ys_host > self._curvature_eps * ss_host:
            fuse["skipped_pairs"] += 1
            return
        m, slot, n = self._history_size, fuse["history_next"], d.numel()
        if fuse["pending_pair"]:  # two pairs in a row without a direction between them
            W = fuse["W"][:, :n]
            self._extend_products(torch.mv(W, W[m + self._newest_slot()]))
        torch.mul(d, t, out=fuse["W"][slot, :n])
        torch.sub(g_new, g, out=fuse["W"][m + slot, :n])
        fuse["history_next"] = (slot + 1) % m
        fuse["history_len"] = min(fuse["history_len"] + 1, m)
        fuse["pending_pair"] = True

    def _newest_slot(self) -> int:
        return (self._fuse["history_next"] - 1) % self._history_size

    def _extend_products(self, w_y: Tensor) -> None:
        """Add the newest pair to ``products`` from ``w_y`` :math:`= W y_{new}` (per slot:
        :math:`s_i^\\top y_{new}`, then :math:`y_i^\\top y_{new}`) and set :math:`\\gamma`; the
        oldest pair's row and column leave first when the history was full."""
        fuse = self._fuse
        L = fuse["history_len"]
        products = fuse["products"]
        if fuse["products_len"] == L:  # the new pair replaced the oldest
            products.copy_(products.roll((-1, -1), dims=(1, 2)))
            products[0, -1] = 0.0  # below the diagonal of S'Y: stays zero
        column = self._chronological(w_y.view(2, self._history_size).to(torch.float64))
        products[:, :L, L - 1] = column
        products[1, L - 1, :L] = column[1]
        fuse["gamma"] = column[0, -1] / column[1, -1]
        fuse["products_len"], fuse["pending_pair"] = L, False

    def _recover(self, x_good: Tensor) -> None:
        """Non-finite loss or gradient: back to the last accepted point (the step's start,
        or the last accepted iterate of this step), fresh history."""
        self._set_params(x_good, None, 0.0)
        self._clear_history()
        self._fuse["nonfinite_recoveries"] += 1

    # ------------------------------------------------------ flat-vector tools
    def _check_flat_vector(self) -> None:
        p0 = self._params[0]
        for p in self._params:
            if p.device != p0.device or p.dtype != p0.dtype:
                raise ValueError(
                    "FUSE argument 'params': the L-BFGS phase needs all "
                    "parameters on one device with one dtype, got "
                    f"{p0.device}/{p0.dtype} and {p.device}/{p.dtype}"
                )
            if torch.is_complex(p):
                raise ValueError(
                    "FUSE argument 'params': complex parameters are not "
                    "supported by the L-BFGS phase"
                )

    def _unflatten(self, flat: Tensor) -> list[Tensor]:
        return [v.view_as(p) for v, p in zip(flat.split(self._sizes), self._params)]

    def _flat_params(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def _set_params(self, x0: Tensor, d: Tensor | None, t: float) -> None:
        """Parameters :math:`\\leftarrow x_0 + t d` (two foreach kernels, no sync)."""
        torch._foreach_copy_(self._params, self._unflatten(x0))
        if d is not None and t != 0.0:
            torch._foreach_add_(self._params, self._unflatten(d), alpha=t)

    def _evaluate(self, closure: Callable[[], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """The closure's loss, that loss averaged over ranks (detached) and the flat
        gradient at the current parameters."""
        with torch.enable_grad():
            loss = closure()
        self._fuse["closure_evals"] += 1
        if all(p.grad is None for p in self._params):
            raise RuntimeError(
                "FUSE.step: the closure left no gradient: it must call "
                "loss.backward() (after zero_grad) and return the loss"
            )
        if any(p.grad is not None and p.grad.is_sparse for p in self._params):
            raise RuntimeError("FUSE does not support sparse gradients (L-BFGS phase)")
        grads = [
            p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel())
            for p in self._params
        ]
        return loss, self._all_ranks_mean(loss), torch.cat(grads)

    def _all_ranks_mean(self, value: Tensor | float) -> Tensor:
        """``value`` as a detached tensor on the parameters' device, averaged over the
        process group when distributed (gloo has no AVG: SUM, then divide)."""
        value = torch.as_tensor(value).detach().to(self._params[0].device)
        enabled = self._distributed
        if enabled is None:
            enabled = (
                dist.is_available()
                and dist.is_initialized()
                and dist.get_world_size(self._process_group) > 1
            )
        if not enabled:
            return value
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM, group=self._process_group)
        return value / dist.get_world_size(self._process_group)

    @staticmethod
    def _to_host(*scalars: Tensor) -> list[float]:
        """Read several device scalars in one transfer (one sync)."""
        if any(s.dtype != scalars[0].dtype for s in scalars):
            scalars = [s.to(torch.float64) for s in scalars]
        return torch.stack(scalars).tolist()


def gradient_norm(grads: list[Tensor]) -> Tensor:
    """:math:`\\lVert (g_1, \\dots, g_k) \\rVert_2` of the tensors ``grads`` taken as one
    vector: a device scalar (no host synchronisation). The statistic of the ``"gradient"``
    switch rule, one term per step."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _host_step_dtype() -> torch.dtype:
    """dtype of Adam's host-side step counter, as :class:`torch.optim.Adam` makes it."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _cubic_minimizer(
    t1: float,
    f1: float,
    g1: float,
    t2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """Minimiser of the cubic through :math:`(t_1, f_1, g_1)` and :math:`(t_2, f_2, g_2)`
    (N&W Eq. 3.59), clipped to ``bounds`` (default: the interval between the points).

    Always finite and inside ``bounds``: the terms are scaled by their largest magnitude
    before squaring (as Moré & Thuente's ``dcstep``), so values near the float limits do
    not overflow, and whenever the interpolant is not finite (an infinite or NaN value,
    0/0) or has no minimiser, the result is the middle of ``bounds``: bisection of a
    bracket, or a safeguarded extrapolation when ``bounds`` lie beyond both points."""
    lo, hi = bounds if bounds is not None else (min(t1, t2), max(t1, t2))
    middle = 0.5 * lo + 0.5 * hi
    if t1 == t2 or not all(map(math.isfinite, (t1, f1, g1, t2, f2, g2))):
        return middle
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (t1 - t2)
    scale = max(abs(d1), abs(g1), abs(g2))
    if not (math.isfinite(d1) and scale > 0.0):
        return middle
    d2_square = (d1 / scale) ** 2 - (g1 / scale) * (g2 / scale)
    if not d2_square >= 0.0:
        return middle
    d2 = scale * math.sqrt(d2_square)
    if t1 <= t2:
        denominator, t, t_other, g_far = g2 - g1 + 2.0 * d2, t2, t1, g2
    else:
        denominator, t, t_other, g_far = g1 - g2 + 2.0 * d2, t1, t2, g1
    t = t - (t - t_other) * ((g_far + d2 - d1) / denominator) if denominator != 0 else math.nan
    return min(max(t, lo), hi) if math.isfinite(t) else middle
