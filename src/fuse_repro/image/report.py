"""The image experiments' section of the report: the setup that produced each result, where
it departs from the official code, the summary table, the paper's claims checked against
it, the speed of FUSE-PV's phases, and the learning curves."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from fuse_repro.claims import link
from fuse_repro.core.data import SPLIT_SIZES
from fuse_repro.core.optimizers import LABELS, REGISTRY
from fuse_repro.core.paths import (
    estimate_path,
    metrics_path,
    results_dir,
    sweep_dir,
    sweep_metrics_path,
)
from fuse_repro.core.statistics import ONE_SEED, mean_and_interval
from fuse_repro.image.claims import claim_rows
from fuse_repro.image.models import model_label
from fuse_repro.image.settings import DATASETS
from fuse_repro.image.summary import phase_speed
from fuse_repro.image.sweeps import TARGET_REFERENCE, rule_regrets
from fuse_repro.image.sweeps import label as sweep_label
from fuse_repro.report import Figure, Item, claims_table, duration, table


def setup_note(settings: dict) -> str:
    """The settings of an image experiment's block that produced its results."""
    lb, fp = settings["lbfgs"], settings["fuse_pv"]
    sizes = SPLIT_SIZES[settings["experiment"]]
    normalize = (
        "inputs in [0, 1]"
        if settings["normalize"] is None
        else f"inputs normalised with mean {settings['normalize']['mean']} and std "
        f"{settings['normalize']['std']}"
    )
    return (
        f"Setup (params.yaml, scale {settings['scale']}): models {', '.join(settings['models'])}, "
        f"batch {settings['batch_size']}, {settings['epochs']} epochs, seeds {settings['seeds']}, "
        f"{settings['train_size'] or sizes['train']} training images, "
        f"{settings['test_size'] or sizes['test']} test images; after every epoch the whole "
        "training set and the test images are scored (not a fixed subset of the training set "
        "as AlgoPerf does: the loss rule watches the whole training set's loss; scoring is "
        f"left out of the wall time), {normalize}, "
        f"no augmentation; Adam lr {settings['adam']['lr']}, SGD lr {settings['sgd']['lr']} "
        f"momentum {settings['sgd']['momentum']}, "
        f"L-BFGS = torch.optim.LBFGS(lr={lb['lr']}, history_size={lb['history_size']}, "
        f"max_iter={lb['max_iter']}, max_eval={lb['max_eval']}, strong Wolfe), Adam→SGD "
        f"after {settings['adam_sgd']['switch_epoch']} epochs; FUSE-PV: Adam lr {fp['lr']}, "
        f"then L-BFGS (lr {fp['lbfgs_lr']}, history {fp['history_size']}, max_iter "
        f"{fp['max_iter']}, max_eval {fp['max_eval']}); epoch rule after "
        f"{fp['switch_epoch']} epochs, gradient rule below {fp['grad_threshold']}, loss rule "
        f"patience {fp['patience']} with min_delta {fp['min_delta']}, both after "
        f"{fp['warmup_epochs']} warm-up epochs; target test accuracy "
        f"{settings['target_accuracy']}. The last incomplete batch is dropped, as in the "
        "official code (FOSSO main.py)."
    )


def differences(settings: dict) -> str:
    """Where the experiment departs from the official code on purpose."""
    scored = (
        "the full test set is scored"
        if settings["test_size"] is None
        else f"{settings['test_size']} test images (a fixed random subset) are scored at this "
        "scale, the full test set at the paper scale"
    )
    return (
        f"Differences, on purpose: {scored} (the official code scored the first 500 test "
        "images); every optimizer starts from the same seed-dependent weights (the official "
        "code used one unseeded initialisation for all seeds); the switch rule asked for is "
        "applied (the official code always applied its loss rule); the loss rule waits for "
        "`patience` epochs without a relative improvement of `min_delta` in the training "
        "loss and never switches back (official: training loss below 2.0, per batch, both "
        "ways)."
    )


COUNTING = (
    "Closure evaluations count forward+backward passes of the training loop alike "
    "for every optimizer; wall time excludes the per-epoch evaluation."
)


DATA_NOTES = {
    "CIFAR-10 (JPEG re-encoding)": "The JPEG re-encoding holds the real CIFAR-10 images of "
    "the standard split, re-encoded lossily (mean absolute pixel error about 5.8/255 against "
    "the originals), so accuracies may differ slightly from runs on the official archive.",
}
"""What a reader needs to know about a data source, by its label (prepare's manifest)."""

MODEL_NOTES = {
    "cifar10": "Models: densenet_paper is what the paper's command builds, DenseNet3(depth=5, "
    "growth_rate=32, reduction=0.5, bottleneck=False) of A. Veit's densenet-pytorch "
    "(the class the official main.py calls): each dense block has int((5 − 4)/3) = 0 "
    "layers, so the network is a 3×3 convolution, two transitions, batch norm and a "
    "linear classifier, with no dense layer. densenet_bc100 is DenseNet-BC (L = 100, "
    "k = 12). Batch norm in training mode while training.",
    "fashion_mnist": "Models: the official LeNet-style CNN and 784-64-32-10 MLP (ReLU, no "
    "normalisation layers).",
}


def notes(settings: dict, source_label: str, parameters: dict[str, int]) -> list[str]:
    """The setup of an image experiment's block that produced its results, its data
    source and models, and where it departs from the official code on purpose."""
    counts = ", ".join(f"{name} {count:,} parameters" for name, count in parameters.items())
    data = " ".join(filter(None, [f"Data: {source_label}.", DATA_NOTES.get(source_label)]))
    return [
        setup_note(settings),
        data,
        f"{MODEL_NOTES.get(settings['experiment'], 'Models:')} Built here: {counts}.",
        differences(settings),
        COUNTING,
    ]


def speed_notes(
    speed: pd.DataFrame,
    times: pd.DataFrame,
    settings: dict,
    paper: dict,
    device: str,
) -> list[str]:
    """FUSE-PV's time per epoch against its references (one run of the grid) and, below the
    paper scale, the paper scale's training time estimated from this run's seconds per
    epoch; ``device`` is the one the runs were trained on (the log's ``device`` column)."""
    ratios = [
        f"{row.model}: FUSE-PV (epoch) {row.phase} phase, seconds per epoch ÷ "
        f"{LABELS[row.reference]}'s: {row.per_epoch:.2f} (per closure "
        f"evaluation {row.per_eval:.2f}; {row.epochs} epochs)"
        for row in speed.itertuples()
    ]
    lines = ["Speed, measured in this run: " + "; ".join(ratios) + "."] if ratios else []
    if settings["scale"] == paper["scale"]:  # measured: the table "What the runs cost"
        return lines
    train_images = SPLIT_SIZES[settings["experiment"]]["train"]
    quick_images = settings["train_size"] or train_images
    scale = (paper["train_size"] or train_images) / quick_images
    per_epoch = (
        times.groupby(["model", "optimizer"])["seconds"].sum()
        / times.groupby(["model", "optimizer"])["epochs"].sum()
    )
    models = [m for m in paper["models"] if m in per_epoch.index.get_level_values(0)]
    optimizers = [o for o in paper["optimizers"] if o in per_epoch.index.get_level_values(1)]
    if models and optimizers:
        seconds = sum(
            per_epoch[(m, o)] for m in models for o in optimizers if (m, o) in per_epoch.index
        )
        hours = seconds * scale * paper["epochs"] * len(paper["seeds"]) / 3600
        lines.append(
            f"Paper scale on this machine ({device}), estimated from this run: {hours:.1f} h "
            f"of training for {', '.join(models)} × {len(optimizers)} optimizers × "
            f"{len(paper['seeds'])} seeds × {paper['epochs']} epochs (this run's seconds per "
            f"epoch × {scale:.2f} for the paper's training set, at this run's batch size "
            f"{settings['batch_size']} (paper: {paper['batch_size']}); per-epoch evaluation "
            "excluded)."
        )
    return lines


def summary_for_display(summary: pd.DataFrame) -> pd.DataFrame:
    """Readable columns: mean ± std, rounded."""
    return pd.DataFrame(
        {
            "model": summary["model"].map(model_label),
            "optimizer": summary["optimizer"].map(lambda o: LABELS.get(o, o)),
            "seeds": summary["seeds"],
            "test accuracy": [
                _pm(m, s, 4)
                for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_std"])
            ],
            "train loss": [
                f"— ({d}/{k} seeds diverged)" if d else _pm(m, s, 4)
                for m, s, d, k in zip(
                    summary["train_loss_mean"],
                    summary["train_loss_std"],
                    summary["seeds_diverged"],
                    summary["seeds"],
                )
            ],
            "closure evals": summary["closure_evals"].round(0).astype(int),
            "wall time (s)": summary["wall_time_s"].round(1),
            "first epoch after switch (seeds)": [
                "—" if pd.isna(e) else f"{e:g} ({n}/{k})"
                for e, n, k in zip(
                    summary["switch_epoch"], summary["seeds_switched"], summary["seeds"]
                )
            ],
            "to target accuracy: median evals, s (seeds reaching it)": [
                f"∞ ({n}/{k})" if math.isinf(e) else f"{e:.0f}, {t:.1f} ({n}/{k})"
                for e, t, n, k in zip(
                    summary["evals_to_target"],
                    summary["time_to_target_s"],
                    summary["seeds_reached"],
                    summary["seeds"],
                )
            ],
        }
    )


def _pm(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def never_switched(summary: pd.DataFrame) -> list[str]:
    """The switch rules that never fired in any seed (their runs are Adam throughout)."""
    return [
        f"{model_label(row.model)}: {LABELS[row.optimizer]} never switched in any seed, so its "
        "runs are Adam throughout."
        for row in summary.itertuples()
        if REGISTRY[row.optimizer].family == "hybrid"
        and REGISTRY[row.optimizer].switch
        and row.seeds_switched == 0
    ]


def diverged_notes(summary: pd.DataFrame) -> list[str]:
    """The optimizers with seeds whose final training loss is not finite, and how such a
    run is logged."""
    return [
        f"{model_label(row.model)}: {LABELS[row.optimizer]} diverged in {row.seeds_diverged} of "
        f"{row.seeds} seeds (final training loss not finite). A run stops training after the "
        "epoch at which its parameters stop being finite; its later epochs repeat that "
        "epoch's evaluation (phase `diverged` in the log) and count in the table's means."
        for row in summary.itertuples()
        if row.seeds_diverged > 0
    ]


def runs_note(settings: dict, runs: dict[str, int], estimate: dict | None = None) -> str:
    """How much of the grid the results cover, the command that trains the rest and, for a
    grid not yet run, the estimate of ``benchmarks/grid_estimate.py`` (if made)."""
    experiment, scale = settings["experiment"], settings["scale"]
    command = f"`python -m fuse_repro.train {experiment} --scale {scale}`"
    if not runs["stored"]:
        expected = (
            " Estimated time on one GPU, from a CPU profile: "
            + ", ".join(
                f"{minutes:.0f} min with {workers} run(s) at once"
                for workers, minutes in estimate["estimated_minutes"].items()
            )
            + f" (`workers` in params.yaml; `{estimate['command']}`, profiled on "
            f"{estimate['profiled_on']}: host {estimate['host_seconds'] / 60:.0f} min, "
            f"device arithmetic {estimate['device_seconds'] / 60:.1f} min at "
            f"{estimate['assumed_tflops']:g} TFLOP/s)."
            if estimate and scale == "paper"
            else ""
        )
        return (
            f"**Not yet run at the {scale} scale**: none of the grid's {runs['grid']} runs is "
            f"stored. Train them with {command}, then `dvc repro`.{expected}"
        )
    return (
        f"**Partial grid**: {runs['stored']} of the {runs['grid']} runs are stored; every "
        f"table and figure below covers those only (see the seeds column). Train the others "
        f"with {command}, then `dvc repro`."
    )


def section(
    settings: dict, paper: dict, root: Path, manifest: dict, sweeps: dict[str, dict]
) -> list[Item]:
    """An image experiment's report section from its results (``root``: the repository):
    heading, how much of the grid is stored, summary table and beside it the tuned
    protocol's (:func:`tuned_items`, for each of ``sweeps`` (name: settings) on this
    experiment and scale), notes on the setup, the claims tested
    (:mod:`fuse_repro.image.claims`), FUSE-PV's phase speed and the paper-scale estimate,
    the learning curves (``paper``: the paper scale's settings)."""
    experiment, scale = settings["experiment"], settings["scale"]
    label = DATASETS[experiment].label
    results = results_dir(root, scale, experiment)
    runs = json.loads(metrics_path(root, scale, experiment).read_text())["runs"]
    items: list[Item] = [f"### {label}"]
    if runs["stored"] < runs["grid"]:
        estimate = estimate_path(root, experiment)
        items.append(
            runs_note(
                settings, runs, json.loads(estimate.read_text()) if estimate.is_file() else None
            )
        )
    if not runs["stored"]:
        return items + [setup_note(settings)]
    summary = pd.read_csv(results / "summary.csv")
    times = pd.read_csv(results / "epoch_times.csv")
    log = pd.read_csv(results / "log.csv")
    parameters = json.loads((results / "models.json").read_text())
    items += [
        f"At the last epoch ({settings['epochs']}; official settings, untuned, equal epochs): "
        "mean ± standard deviation over the seeds; closure evaluations (forward+backward "
        "passes, without what a switch rule is charged) and training seconds are means over "
        "the seeds; time to target: the first epoch whose test accuracy reaches "
        f"{settings['target_accuracy']:g} (a fixed threshold, not tuned), median over all "
        "seeds with a miss counted as ∞.",
        table(summary_for_display(summary)),
    ]
    for name, sweep in sweeps.items():
        if (sweep["experiment"], sweep["scale"]) == (experiment, scale):
            items += tuned_items(name, sweep, root)
    items += notes(settings, manifest[experiment]["source_label"], parameters)
    claims = claim_rows(log, label)
    if claims:
        items += [
            "The paper's claims on these runs (paired per-seed differences, 95 % t-"
            "interval; an interval covering 0 is no difference):",
            claims_table(claims),
        ]
    items += never_switched(summary) + diverged_notes(summary)
    items += speed_notes(phase_speed(times), times, settings, paper, log["device"].iloc[0])
    items += [
        Figure(path, f"{label}, {path.stem}: learning curves")
        for path in sorted((results / "figures").glob("*.png"))
    ]
    return items


def scored_split(metrics: dict, settings: dict) -> str:
    """``the validation set (500 training images held out)``: the split a sweep's points
    are scored on (``metrics``: the sweep's; before any run, the one its settings ask)."""
    held_out = settings["validation_size"]
    scored_on = metrics.get("scored_on", "validation" if held_out else "test")
    return f"the {scored_on} set" + (
        f" ({held_out} training images held out)" if scored_on == "validation" and held_out else ""
    )


def _seeds(seeds: list[int]) -> str:
    """``seed 100`` or ``seeds 0, 1, 2``."""
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def tuned_items(name: str, sweep: dict, root: Path) -> list[Item]:
    """The tuned protocol's table, to stand beside the official-settings one: the
    confirmation runs of sweep ``name`` (``sweep``: its settings), each method at its point
    chosen on the validation split and trained on the rest of the training set with new
    seeds, summarised like the official runs (``confirmation_summary.csv`` of
    :func:`fuse_repro.image.sweeps.write_summaries`), and the training time the sweep took;
    nothing until its confirmation runs are stored."""
    folder = sweep_dir(root, name)
    path = folder / "confirmation_summary.csv"
    if not path.is_file():
        return []
    metrics = json.loads(sweep_metrics_path(root, name).read_text())
    trials, confirmation = metrics["runs"], metrics["confirmation"]
    device = pd.read_csv(folder / "confirmation_log.csv", usecols=["device"])["device"].iloc[0]
    held_out = sweep["validation_size"] or 0
    trained_on = sweep["train_size"] or SPLIT_SIZES[sweep["experiment"]]["train"] - held_out
    cadence = (
        f", but a run's time to target is its first scoring at an epoch's end or after every "
        f"{sweep['eval_every']} closure evaluations"
        if sweep["eval_every"]
        else ""
    )
    return [
        f"Tuned protocol ({link(f'Sweep {name}', sweep['scale'], sweep['scale'])}): each "
        f"method at its point chosen on {scored_split(metrics, sweep)} from "
        f"{trials['stored']} trial runs on {_seeds(sweep['seeds'])} (as many for every "
        f"method), trained on {trained_on} {'other ' if held_out else ''}training images with "
        f"{_seeds(sweep['confirm_seeds'])} ({confirmation['stored']} of "
        f"{confirmation['expected']} runs stored); columns as above{cadence}. Training time "
        "on the machine that trained them "
        f"({device.upper()}, summed over the runs, scoring left out): "
        f"{duration(trials['training_seconds'])} for the trials, "
        f"{duration(confirmation['training_seconds'])} for these runs.",
        table(summary_for_display(pd.read_csv(path))),
    ]


ANSWERED = ("fuse_pv_epoch", ("adam", "sgd", "lbfgs_same_batch"))
"""The tuned comparison the sweeps answer first: tuned FUSE-PV (epoch) against tuned Adam,
tuned SGD with momentum and same-batch L-BFGS (FUSE with θ = 0 throughout)."""


def answers_items(sweeps: dict[str, dict], root: Path) -> list[Item]:
    """The declared sweeps' answers gathered in two tables, each row linked to its sweep's
    section: :func:`tuned_answer_rows` and :func:`switch_answer_rows` of every sweep
    (``sweeps``: each one's settings, :func:`fuse_repro.params.resolve_sweep`)."""
    tuned = [row for name, s in sweeps.items() for row in tuned_answer_rows(name, s, root)]
    switch = [row for name, s in sweeps.items() for row in switch_answer_rows(name, s, root)]
    ours, _ = ANSWERED
    items: list[Item] = []
    if tuned:
        items += [
            f"The answers, gathered from the sweeps below. Tuned {LABELS[ours]} against tuned "
            "Adam, tuned SGD with momentum and same-batch L-BFGS: test accuracy, ours minus "
            "theirs, on the confirmation seeds (mean [95 % paired t-interval]; an interval "
            "covering 0 is no difference), at the largest equal budget of closure evaluations "
            "and of training seconds both runs of a pair reached (in brackets); every other "
            "method and the final epoch are in each sweep's section.",
            table(pd.DataFrame(tuned)),
        ]
    if switch:
        items += [
            "The switch rules against the oracle switch: per workload, the switch epoch with "
            "the best final validation accuracy in hindsight, the rule closest to it, and its "
            "regret (rule minus best, paired by seed).",
            table(pd.DataFrame(switch)),
        ]
    return items


def _workload(settings: dict, model: str) -> str:
    dataset = DATASETS[settings["experiment"]].label
    return f"{dataset} {model_label(model)}, {settings['scale']} scale"


def _sweep_link(name: str, settings: dict) -> str:
    return link(f"Sweep {name}", settings["scale"], settings["scale"])


def tuned_answer_rows(name: str, settings: dict, root: Path) -> list[dict[str, str]]:
    """Per model, :data:`ANSWERED` on sweep ``name``'s confirmation seeds, at equal closure
    evaluations and at equal seconds (its ``comparison.csv``); none before it has one."""
    path = sweep_dir(root, name) / "comparison.csv"
    if not path.is_file():
        return []
    ours, references = ANSWERED
    rows = pd.read_csv(path)
    rows = rows[(rows["ours"] == ours) & (rows["measure"] != "final epoch")]
    pairs = {key: pair for key, pair in rows.groupby(["model", "reference"], sort=False)}
    return [
        {
            "workload": _workload(settings, model),
            "seeds": ", ".join(map(str, settings["confirm_seeds"])),
            f"{LABELS[ours]} against": LABELS[reference],
            **{
                _measure_heading(r.measure): _comparison_cell(r)
                for r in pairs[model, reference].itertuples()
            },
            "sweep": _sweep_link(name, settings),
        }
        for model in rows["model"].unique()
        for reference in references
        if (model, reference) in pairs
    ]


def switch_answer_rows(name: str, settings: dict, root: Path) -> list[dict[str, str]]:
    """Per model of an oracle sweep (``name``): the best switch epoch, the rule closest to
    it (:func:`closest_rules`), its regret and how many seeds switched; none for any
    other sweep."""
    path = sweep_dir(root, name) / "points.csv"
    if not path.is_file():
        return []
    points = pd.read_csv(path)
    rows = []
    for model, closest in closest_rules(rule_regrets(points)).items():
        first = closest.iloc[0]
        best = points[(points["model"] == model) & points["best"]]["point"].iloc[0]
        rows.append(
            {
                "workload": _workload(settings, model),
                "seeds": ", ".join(map(str, settings["seeds"])),
                "best switch (oracle)": sweep_label(best),
                "closest rule": ", ".join(closest["optimizer"].map(LABELS)),
                "regret [95 % CI]": mean_and_interval(
                    first.gap_to_best, first.gap_low, first.gap_high
                ),
                "seeds that switched": _switched(closest),
                "sweep": _sweep_link(name, settings),
            }
        )
    return rows


EVERY_POINT_UP_TO = 16
"""A sweep with at most this many points per model (an ablation, an oracle sweep) shows
every point; a larger one (a tuning sweep) each optimizer's best."""


def sweep_section(name: str, settings: dict, root: Path) -> list[Item]:
    """A declared sweep's report section (``settings``: the sweep's, from
    :func:`fuse_repro.params.resolve_sweep`): how many of its runs are stored, per model
    every point (:data:`EVERY_POINT_UP_TO`) or the best point of each optimizer, with its
    score and its gap to the model's best point (paired by seed: for a switch rule in an
    oracle sweep, its regret), and the figure."""
    experiment, scale = settings["experiment"], settings["scale"]
    metrics = json.loads(sweep_metrics_path(root, name).read_text())
    runs = metrics["runs"]
    split = f"points scored on {scored_split(metrics, settings)}"
    items: list[Item] = [
        f"### Sweep `{name}`",
        f"{DATASETS[experiment].label} at the {scale} scale, {_seeds(settings['seeds'])}, "
        f"{split} at the final epoch (equal epochs; the closure evaluations each point used "
        "are shown); "
        f"{runs['stored']} of {runs['expected']} runs stored.",
    ]
    if runs["stored"] < runs["expected"]:
        items.append(
            f"Train the rest with `python -m fuse_repro.sweep {name}`, then "
            f"`dvc repro sweep@{name}`."
        )
    if not runs["stored"]:
        return items + confirmation_items(name, metrics, root)
    points = pd.read_csv(sweep_dir(root, name) / "points.csv")
    best_index = points.groupby(["model", "optimizer"], sort=False)["score"].idxmax()
    every = points.groupby("model").size().max() <= EVERY_POINT_UP_TO
    best = points if every else points.loc[best_index]
    tried = points.groupby(["model", "optimizer"]).size()
    shown = pd.DataFrame(
        {
            "model": best["model"].map(model_label),
            "point" if every else "optimizer (best point)": [
                sweep_label(p)
                + (" (its optimizer's best)" if every and i in best_index.values else "")
                for i, p in zip(best.index, best["point"])
            ],
            "points": [tried[r.model, r.optimizer] for r in best.itertuples()],
            f"final {metrics['scored_on']} accuracy": best["score"].map("{:.4f}".format),
            "gap to the best point [95 % CI]": [
                mean_and_interval(r.gap_to_best, r.gap_low, r.gap_high) for r in best.itertuples()
            ],
            "closure evaluations": best["closure_evals"].map("{:.0f}".format),
        }
    )
    items.append(table(shown))
    items += regret_items(rule_regrets(points))
    items += default_vs_tuned_items(sweep_dir(root, name) / "default_vs_tuned.csv", metrics)
    sensitivity = sweep_dir(root, name) / "figures" / "sensitivity.png"
    if sensitivity.is_file():
        items.append(
            Figure(sensitivity, f"Sweep {name}: final {metrics['scored_on']} accuracy per point")
        )
    return items + confirmation_items(name, metrics, root)


def closest_rules(regrets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per model, the switch rules closest to the oracle switch (the first rows of
    :func:`fuse_repro.image.sweeps.rule_regrets`; rules with the same mean regret are
    tied)."""
    return {
        model: rules[rules["gap_to_best"] == rules["gap_to_best"].iloc[0]]
        for model, rules in regrets.groupby("model", sort=False)
    }


def _switched(closest: pd.DataFrame) -> str:
    return ", ".join(f"{r.switched} of {r.seeds}" for r in closest.itertuples())


def regret_items(regrets: pd.DataFrame) -> list[Item]:
    """Per model, the switch rule closest to the oracle switch (:func:`closest_rules`) and
    its regret, with how many seeds switched."""
    items = []
    for model, closest in closest_rules(regrets).items():
        names = ", ".join(closest["optimizer"].map(LABELS))
        switched = _switched(closest)
        first = closest.iloc[0]
        rule = (
            "rule closest to the oracle switch (the best point) is"
            if len(closest) == 1
            else "rules closest to the oracle switch (the best point) are, tied,"
        )
        items.append(
            f"{model_label(model)}: the switch {rule} {names}, with regret "
            f"{mean_and_interval(first.gap_to_best, first.gap_low, first.gap_high)} in final "
            f"accuracy (seeds that switched: {switched})."
        )
    return items


def default_vs_tuned_items(path: Path, metrics: dict) -> list[Item]:
    """Each optimizer as configured against its tuned point
    (:func:`fuse_repro.image.sweeps.default_vs_tuned`), when the sweep has both."""
    if not path.is_file():
        return []
    rows = pd.read_csv(path)
    scored = f"final {metrics['scored_on']} accuracy"
    return [
        f"Default against tuned, on the trial seeds ({scored}; the tuned point is the best "
        "of the optimizer's points on these same seeds, so its gain is optimistic; "
        "tuned minus default, mean [95 % paired t-interval]):",
        table(
            pd.DataFrame(
                {
                    "model": rows["model"].map(model_label),
                    "optimizer": rows["optimizer"].map(LABELS),
                    f"default: {scored}": rows["default_score"].map("{:.4f}".format),
                    "tuned point": rows["tuned_point"].map(sweep_label),
                    f"tuned: {scored}": rows["tuned_score"].map("{:.4f}".format),
                    "gain [95 % CI]": [
                        mean_and_interval(r.gain, r.gain_low, r.gain_high)
                        for r in rows.itertuples()
                    ],
                }
            )
        ),
    ]


def confirmation_items(name: str, metrics: dict, root: Path) -> list[Item]:
    """The tuned comparison of a sweep with confirmation seeds: how many of its runs are
    stored and, once there are any, each FUSE-PV variant against each other method
    (:func:`fuse_repro.image.comparison.comparison_table`)."""
    if "confirmation" not in metrics:
        return []
    runs = metrics["confirmation"]
    items: list[Item] = [
        f"Confirmation (each model's chosen point of each method on new seeds): "
        f"{runs['stored']} of {runs['expected']} runs stored."
    ]
    path = sweep_dir(root, name) / "comparison.csv"
    if not path.is_file():
        return items
    rows = pd.read_csv(path)
    shown = [
        {
            "model": model_label(model),
            "FUSE-PV": LABELS[ours],
            "against": LABELS[reference],
            **{_measure_heading(r.measure): _comparison_cell(r) for r in pair.itertuples()},
        }
        for (model, ours, reference), pair in rows.groupby(
            ["model", "ours", "reference"], sort=False
        )
    ]
    items += [
        "Tuned FUSE-PV against each tuned method: test accuracy, ours minus theirs, on the "
        "confirmation seeds (outcome: mean [95 % paired t-interval]; an interval covering 0 "
        "is no difference), at the final epoch and at the largest equal budget of closure "
        "evaluations and of training seconds both runs of a pair reached (in brackets).",
        table(pd.DataFrame(shown)),
    ]
    path = sweep_dir(root, name) / "time_to_target.csv"
    items += time_to_target_items(path, metrics.get("scored_on", "test"))
    return items + [
        Figure(
            path,
            f"Sweep {name}, {model_label(path.stem.removeprefix('confirmation_'))}: the chosen "
            "points on the confirmation seeds, learning curves",
        )
        for path in sorted((sweep_dir(root, name) / "figures").glob("confirmation_*.png"))
    ]


def _measure_heading(measure: str) -> str:
    return measure if measure == "final epoch" else f"at equal {measure}"


BUDGET_FORMATS = {
    "final epoch": "epoch {:.0f}",
    "closure evaluations": "{:,.0f} evaluations",
    "seconds": "{:.1f} s",
}
"""How each measure of :data:`fuse_repro.image.comparison.BUDGETS` states its budget."""


def _comparison_cell(row) -> str:
    """``worse: -0.0123 [-0.0200, -0.0040] (128 evaluations)``: one comparison
    (``-0.0123 (1 seed) (128 evaluations)`` when one seed gives no interval)."""
    budget = BUDGET_FORMATS[row.measure].format(row.budget)
    outcome = "" if row.outcome == ONE_SEED else f"{row.outcome}: "
    return f"{outcome}{mean_and_interval(row.difference, row.low, row.high)} ({budget})"


def time_to_target_items(path: Path, scored_on: str) -> list[Item]:
    """The confirmation runs' time to target
    (:func:`fuse_repro.image.sweeps.time_to_target_table`), when there is one."""
    if not path.is_file():
        return []
    rows = pd.read_csv(path)
    if rows.empty:
        return []
    return [
        f"Time to target: the target is the median (the lower one for an even number of "
        f"seeds) final {scored_on} accuracy of tuned "
        f"{LABELS[TARGET_REFERENCE]} on these seeds; a run's time is its first scoring "
        "(epoch ends and the fixed cadence of `eval_every` evaluations) at or above it, "
        "infinite (∞) when it never gets there; (lower) medians over all seeds.",
        table(
            pd.DataFrame(
                {
                    "model": rows["model"].map(model_label),
                    "method": rows["optimizer"].map(LABELS),
                    "target": rows["target"].map("{:.4f}".format),
                    "seeds reaching it": [
                        f"{r.seeds_reached}/{r.seeds}" for r in rows.itertuples()
                    ],
                    "closure evaluations": rows["evals_to_target"].map(_count_or_never),
                    "seconds": rows["seconds_to_target"].map(_seconds_or_never),
                }
            )
        ),
    ]


def _count_or_never(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:,.0f}"


def _seconds_or_never(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:,.1f}"
