"""FUSE-PV's first L-BFGS step after the switch: 1/||d||_2 against 1/||g||_1.

With an empty history (the first L-BFGS iteration after FUSE-PV's switch, or the first
after a history clear) the search direction is ``d = -g`` and the line search's first
trial step is ``lbfgs_lr * s``. FUSE scales it by ``s = min(1, 1/||d||_2)``
(:meth:`fuse.FUSE._initial_trial_step`); :class:`torch.optim.LBFGS` by
``s = min(1, 1/||g||_1)``, up to ``sqrt(n)`` times smaller. This script trains the
quick-scale image runs of ``params.yaml`` with both rules (``l2``: FUSE as it is;
``l1``: a subclass overriding that one method) and, for reference, with
``torch.optim.LBFGS`` and Adam. Runs go through the pipeline's own
:func:`fuse_repro.image.runs.train_run`, with :data:`fuse_repro.core.optimizers.FUSE` replaced by
the subclass, so they are the pipeline's runs except for the rule (the ``l2`` runs are
the pipeline's runs exactly).

Experiments (``--experiments``; seeds ``--seeds``, default 0 1 2):

* ``fmnist_cnn``, ``fmnist_mlp``: FashionMNIST, FUSE-PV with the epoch rule (the only
  rule that fires at the quick scale);
* ``cifar_gradient``, ``cifar_epoch``: CIFAR-10 ``densenet_paper``, FUSE-PV with the
  gradient rule and with the epoch rule.

Measured, per run and epoch: what the pipeline logs (the full-training-set loss and the
test accuracy, both in eval mode, i.e. with batch norm's *running* statistics), and, for
models with batch norm, the same two after recomputing the batch-norm statistics on the
training set at that epoch's parameters (on a copy of the model: the run itself is not
touched). The gap between the two is what the running statistics, an exponential
average (momentum 0.1) over every closure evaluation in train mode, add to the logged
numbers.

Measured at the first L-BFGS iteration after the switch (FUSE-PV runs): ``||g||_1``,
``||g||_2``, the first trial step ``t0``, the accepted step ``t``, the mini-batch loss
before and after, the line search's closure evaluations, and the full-training-set loss
just before and just after that single iteration (eval mode, and with recomputed
batch-norm statistics). Also, over the first epoch after the switch: L-BFGS iterations,
iterations whose line search needed more than one evaluation (rejected or extrapolated
trials), line-search failures, and iterations with an empty history.

Outputs in ``--out``: ``epochs.csv`` (one row per run and epoch), ``first_iteration.csv``
(one row per FUSE-PV run), ``around_switch.csv`` (per experiment, variant and epoch: mean,
std, min and max over seeds), ``first_step.png`` (seed mean with a min-max band) and
``summary.md`` (the tables). ``--plot-only`` redraws them from ``epochs.csv`` and
``first_iteration.csv``.

Usage (from the repository root, data prepared by ``python -m fuse_repro.core.data``)::

    python benchmarks/first_step.py --out benchmarks/results/first_step [--seeds 0 1 2]
        [--experiments fmnist_cnn fmnist_mlp cifar_gradient cifar_epoch] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import matplotlib
import pandas as pd
import torch
from torch import Tensor, nn

import fuse_repro.core.optimizers
import fuse_repro.image.runs
from fuse import FUSE
from fuse_repro.params import load, resolve

# name: (params.yaml experiment, model, FUSE-PV optimizer of the pipeline)
EXPERIMENTS = {
    "fmnist_cnn": ("fashion_mnist", "cnn", "fuse_pv_epoch"),
    "fmnist_mlp": ("fashion_mnist", "mlp", "fuse_pv_epoch"),
    "cifar_gradient": ("cifar10", "densenet_paper", "fuse_pv_gradient"),
    "cifar_epoch": ("cifar10", "densenet_paper", "fuse_pv_epoch"),
}
RULES = {
    "l2": "FUSE-PV, min(1, 1/||d||_2) (FUSE)",
    "l1": "FUSE-PV, min(1, 1/||g||_1) (as torch)",
}
REFERENCES = {"lbfgs": "torch.optim.LBFGS", "adam": "Adam"}
COLORS = {"l2": "tab:blue", "l1": "tab:orange", "lbfgs": "tab:green", "adam": "tab:gray"}
METRICS = ["train_loss", "test_accuracy", "train_loss_bn", "test_accuracy_bn"]


# ----------------------------------------------------------- the two rules
class RecordingFUSE(FUSE):
    """FUSE with its own initial-step rule (``l2``), recording the first L-BFGS
    iteration after the switch and counting line-search work in the epoch after it.

    Everything it records is read from values FUSE already computed or from a copy of
    the model, so the optimisation is exactly FUSE's."""

    rule = "l2"
    probe: Any = None  # callable() -> dict of full-training-set losses, set per run

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first: dict[str, Any] = {}
        self.epoch_after = {
            "iterations": 0,
            "multi_eval_iterations": 0,
            "empty_history_iterations": 0,
            "failures": 0,
        }
        self._norms: dict[str, float] = {}

    def _initial_trial_step(self, g: Tensor, d: Tensor, dd: float) -> float:
        l1 = float(g.abs().sum())  # one extra host read, only with an empty history
        self._norms = {"g_l1": l1, "g_l2": math.sqrt(float(g.dot(g))), "d_l2": math.sqrt(dd)}
        if self.rule == "l1":
            return min(1.0, 1.0 / l1)
        return super()._initial_trial_step(g, d, dd)

    def _take_step(self, closure, x0, d, t0, start, d_max):
        fuse = self._fuse
        in_epoch_after = fuse["epoch"] == fuse["switch_epoch"]
        first = not self.first
        before = self.probe() if first and self.probe else {}
        evals = fuse["closure_evals"]
        point = super()._take_step(closure, x0, d, t0, start, d_max)
        evals = fuse["closure_evals"] - evals
        if in_epoch_after:
            counts = self.epoch_after
            counts["iterations"] += 1
            counts["multi_eval_iterations"] += evals > 1
            counts["empty_history_iterations"] += bool(self._norms)
            counts["failures"] += point is None
        if first:
            after = self.probe() if self.probe else {}
            self.first = {
                "switch_epoch": fuse["switch_epoch"],
                "switch_step": fuse["switch_step"],
                "n": d.numel(),
                **self._norms,
                "t0": t0,
                "t": point.t if point is not None else float("nan"),
                "batch_loss_before": start.f,
                "batch_loss_after": point.f if point is not None else float("nan"),
                "line_search_evals": evals,
                **{f"{k}_before": v for k, v in before.items()},
                **{f"{k}_after": v for k, v in after.items()},
            }
        self._norms = {}
        return point


class TorchRuleFUSE(RecordingFUSE):
    """FUSE with torch.optim.LBFGS's initial step, ``min(1, 1/||g||_1)``."""

    rule = "l1"


# -------------------------------------------------------------- measures
def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def recalibrated(
    model: nn.Module, train: fuse_repro.image.runs.Split, batch_size: int
) -> nn.Module:
    """A copy of ``model`` whose batch-norm statistics are the average over the training
    set at its current parameters (train-mode passes in ``batch_size`` batches)."""
    model = copy.deepcopy(model)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    for start in range(0, len(train.y), batch_size):
        model(train.x[start : start + batch_size])
    return model


@contextmanager
def instrumented(
    rule: str | None, train: fuse_repro.image.runs.Split, batch_size: int
) -> Iterator[dict[str, Any]]:
    """Patch the pipeline for one run: FUSE -> the recording subclass of ``rule``;
    capture the model; after each of the pipeline's evaluations, also evaluate a
    batch-norm-recalibrated copy. Yields the run's record."""
    record: dict[str, Any] = {"bn": [], "optimizer": None}
    evaluate = fuse_repro.image.runs.evaluate
    build_model = fuse_repro.image.runs.build_model
    build_optimizer = fuse_repro.image.runs.build_optimizer

    def full_train_losses() -> dict[str, float]:
        model = record["model"]
        out = {"train_loss": evaluate(model, train)[0]}
        if has_batch_norm(model):
            out["train_loss_bn"] = evaluate(recalibrated(model, train, batch_size), train)[0]
        return out

    def patched_build_model(name: str, seed: int) -> nn.Module:
        record["model"] = build_model(name, seed)
        return record["model"]

    def patched_build_optimizer(*args: Any, **kwargs: Any) -> Any:
        record["optimizer"] = build_optimizer(*args, **kwargs)
        inner = getattr(record["optimizer"], "optimizer", None)
        if isinstance(inner, RecordingFUSE):
            inner.probe = full_train_losses
        return record["optimizer"]

    def patched_evaluate(
        model: nn.Module, split: Any, *args: Any, **kwargs: Any
    ) -> tuple[float, float]:
        result = evaluate(model, split, *args, **kwargs)
        if has_batch_norm(model):
            # the pipeline scores the training split, then the test split, at one point
            if split is train or "recalibrated" not in record:
                record["recalibrated"] = recalibrated(model, train, batch_size)
            record["bn"].append(evaluate(record["recalibrated"], split, *args, **kwargs))
        else:
            record["bn"].append(result)
        return result

    subclass = TorchRuleFUSE if rule == "l1" else RecordingFUSE
    with (
        mock.patch.object(fuse_repro.core.optimizers, "FUSE", subclass),
        mock.patch.object(fuse_repro.image.runs, "build_model", patched_build_model),
        mock.patch.object(fuse_repro.image.runs, "build_optimizer", patched_build_optimizer),
        mock.patch.object(fuse_repro.image.runs, "evaluate", patched_evaluate),
    ):
        yield record


def run_one(
    experiment: str,
    variant: str,
    seed: int,
    config: dict[str, Any],
    splits: fuse_repro.image.runs.Splits,
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """One pipeline run; returns its epoch log (with the recalibrated columns) and, for
    FUSE-PV, its first-iteration record."""
    _, model, fuse_name = EXPERIMENTS[experiment]
    optimizer = fuse_name if variant in RULES else variant
    rule = variant if variant in RULES else None
    with instrumented(rule, splits.train, config["batch_size"]) as record:
        started = time.perf_counter()
        log = fuse_repro.image.runs.train_run(model, optimizer, seed, config, splits)
        seconds = time.perf_counter() - started
    bn = pd.DataFrame(record["bn"], columns=["loss", "accuracy"])
    log["train_loss_bn"] = bn["loss"].iloc[0::2].to_numpy()  # train split, then test
    log["test_accuracy_bn"] = bn["accuracy"].iloc[1::2].to_numpy()
    log.insert(0, "experiment", experiment)
    log.insert(1, "variant", variant)
    log["run_seconds"] = seconds
    first = None
    inner = record["optimizer"].optimizer
    if isinstance(inner, RecordingFUSE):
        first = {
            "experiment": experiment,
            "variant": variant,
            "seed": seed,
            **inner.first,
            **{f"epoch_after_{k}": v for k, v in inner.epoch_after.items()},
            "run_seconds": seconds,
        }
    return log, first


# ------------------------------------------------------------- summaries
def around_switch(epochs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, min and max over seeds of each metric, per experiment, variant and
    epoch."""
    stats = epochs.groupby(["experiment", "variant", "epoch"], sort=False)[METRICS].agg(
        ["mean", "std", "min", "max"]
    )
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return stats.reset_index()


def markdown_tables(epochs: pd.DataFrame, first: pd.DataFrame) -> str:
    """The per-epoch mean ± std (min..max) tables and the first-iteration table."""
    lines = []
    labels = {**RULES, **REFERENCES}
    for experiment, runs in epochs.groupby("experiment", sort=False):
        data, model, fuse_name = EXPERIMENTS[experiment]
        lines += [f"### {experiment}: {data} {model}, {fuse_name}", ""]
        for metric in METRICS:
            if runs[metric].isna().all() or (
                metric.endswith("_bn") and (runs[metric] == runs[metric[:-3]]).all()
            ):
                continue
            lines += [f"{metric} (mean ± std over seeds, [min, max])", ""]
            stats = (
                runs.groupby(["variant", "epoch"])[metric]
                .agg(["mean", "std", "min", "max"])
                .fillna(0.0)
            )
            variants = [v for v in labels if v in runs["variant"].unique()]
            lines.append("| epoch | " + " | ".join(labels[v] for v in variants) + " |")
            lines.append("|---:|" + "---|" * len(variants))
            for epoch in sorted(runs["epoch"].unique()):
                cells = [
                    f"{m:.4f} ± {sd:.4f} [{lo:.3f}, {hi:.3f}]"
                    for m, sd, lo, hi in (stats.loc[(v, epoch)] for v in variants)
                ]
                lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
            lines.append("")
    if len(first):
        lines += ["### First L-BFGS iteration after the switch", ""]
        columns = [c for c in first.columns if c not in ("run_seconds",)]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for _, row in first.iterrows():
            lines.append(
                "| "
                + " | ".join(
                    f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns
                )
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def figure(epochs: pd.DataFrame, first: pd.DataFrame, path: Path) -> None:
    """Columns: experiments; rows: logged training loss; training loss with recomputed
    batch-norm statistics (models without batch norm: the logged loss, zoomed on the
    epochs around the switch); test accuracy (logged: solid; recomputed statistics:
    dotted). Lines are seed means, bands the min-max over seeds; dashed lines mark the
    switches (after that many epochs)."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    experiments = list(dict.fromkeys(epochs["experiment"]))
    rows = ["train_loss", "train_loss_bn", "test_accuracy"]
    ylabels = [
        "train loss (full set, as logged)",
        "train loss, BN statistics recomputed\n(no BN: as logged, zoomed)",
        "test accuracy (solid: logged;\ndotted: BN recomputed)",
    ]
    fig, axes = plt.subplots(
        len(rows), len(experiments), squeeze=False, figsize=(4.2 * len(experiments), 9.5)
    )
    labels = {**RULES, **REFERENCES}
    for col, experiment in enumerate(experiments):
        runs = epochs[epochs["experiment"] == experiment]
        bn = has_bn_columns(runs)
        switches = sorted(
            first[first["experiment"] == experiment]["switch_epoch"].dropna().astype(int).unique()
        )
        for row, metric in enumerate(rows):
            ax = axes[row][col]
            shown = runs
            if metric == "train_loss_bn" and not bn:
                metric = "train_loss"
                if switches:
                    shown = runs[runs["epoch"].between(switches[0] - 1, switches[-1] + 3)]
                ax.text(
                    0.97,
                    0.95,
                    "no batch norm: logged loss,\nzoom around the switch",
                    ha="right",
                    va="top",
                    fontsize=8,
                    transform=ax.transAxes,
                )
            for variant, name in labels.items():
                part = shown[shown["variant"] == variant]
                if part.empty:
                    continue
                styles = [(metric, "-")]
                if metric == "test_accuracy" and bn:
                    styles.append(("test_accuracy_bn", ":"))
                for column, style in styles:
                    band = part.groupby("epoch")[column].agg(["mean", "min", "max"])
                    ax.plot(
                        band.index,
                        band["mean"],
                        style,
                        color=COLORS[variant],
                        label=name if style == "-" else None,
                        lw=1.6,
                    )
                    ax.fill_between(
                        band.index,
                        band["min"],
                        band["max"],
                        color=COLORS[variant],
                        alpha=0.18,
                        lw=0,
                    )
            for epoch in switches:
                ax.axvline(epoch, color="0.5", ls="--", lw=0.8)
            if row == 0:
                data, model, fuse_name = EXPERIMENTS[experiment]
                seeds = ", ".join(str(int(seed)) for seed in sorted(runs["seed"].unique()))
                ax.set_title(f"{data} {model}\n{fuse_name}, seeds {seeds}", fontsize=9)
            if col == 0:
                ax.set_ylabel(ylabels[row], fontsize=9)
            if row == len(rows) - 1:
                ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=9)
    fig.suptitle(
        "FUSE-PV's first L-BFGS trial step with an empty history "
        "(dashed: switch; bands: min-max over seeds)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def has_bn_columns(runs: pd.DataFrame) -> bool:
    return not (runs["train_loss_bn"] == runs["train_loss"]).all()


def write_outputs(epochs: pd.DataFrame, first: pd.DataFrame, out: Path) -> None:
    epochs.to_csv(out / "epochs.csv", index=False)
    first.to_csv(out / "first_iteration.csv", index=False)
    around_switch(epochs).to_csv(out / "around_switch.csv", index=False)
    (out / "summary.md").write_text(markdown_tables(epochs, first))
    figure(epochs, first, out / "first_step.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--experiments", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS)
    )
    parser.add_argument(
        "--variants", nargs="+", choices=[*RULES, *REFERENCES], default=[*RULES, *REFERENCES]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--params-file", default="params.yaml")
    parser.add_argument("--prepared-dir", default="prepared")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--plot-only",
        action="store_true",
        help="redraw the figure and tables from the CSVs in --out",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        write_outputs(
            pd.read_csv(args.out / "epochs.csv"),
            pd.read_csv(args.out / "first_iteration.csv"),
            args.out,
        )
        return
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    logs, firsts, configs, splits, done = [], [], {}, {}, {}
    params = load(args.params_file)
    for experiment in args.experiments:
        data, model, _ = EXPERIMENTS[experiment]
        if data not in configs:
            configs[data] = resolve(params, data, "quick")
            device = fuse_repro.image.runs.resolve_device(configs[data]["device"])
            splits[data] = fuse_repro.image.runs.load_splits(
                data, configs[data], args.prepared_dir, device
            )
        for variant in args.variants:
            for seed in args.seeds:
                # a reference run is the same for every experiment on its model
                key = (data, model, variant, seed) if variant in REFERENCES else None
                if key is not None and key in done:
                    logs.append(done[key].assign(experiment=experiment))
                    continue
                log, first = run_one(experiment, variant, seed, configs[data], splits[data])
                done[key] = log
                last = log.iloc[-1]
                print(
                    f"{experiment:15s} {variant:5s} seed {seed}: train loss "
                    f"{last.train_loss:.4f} (BN recomputed {last.train_loss_bn:.4f}), "
                    f"test acc {last.test_accuracy:.4f}, {last.run_seconds:.1f} s",
                    flush=True,
                )
                logs.append(log)
                if first is not None:
                    firsts.append(first)
    epochs = pd.concat(logs, ignore_index=True)
    first = pd.DataFrame(firsts)
    write_outputs(epochs, first, args.out)
    print(markdown_tables(epochs, first))
    print(f"total {time.perf_counter() - started:.0f} s; outputs in {args.out}")


if __name__ == "__main__":
    main()
