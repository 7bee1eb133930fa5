"""The report's table of what the runs cost (fuse_repro.costs), from metrics files."""

import json

from fuse_repro import costs
from fuse_repro.core.paths import estimate_path, metrics_path, sweep_metrics_path


def write(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def test_each_experiment_and_sweep_with_metrics_has_a_row(tmp_path, committed_params):
    runs = {"stored": 49, "grid": 64, "training_seconds": 9000.0}
    write(metrics_path(tmp_path, "paper", "fashion_mnist"), {"runs": runs})
    write(
        metrics_path(tmp_path, "paper", "cifar10"),
        {"runs": {"stored": 0, "grid": 32, "training_seconds": 0.0}},
    )
    write(estimate_path(tmp_path, "cifar10"), {"estimated_minutes": {"1": 6.2, "8": 3.3}})
    write(
        metrics_path(tmp_path, "paper", "pinn"),
        {"runs": {"stored": 144, "grid": 144, "training_seconds": 5784.0}},
    )
    trials = {"stored": 10, "expected": 12, "training_seconds": 100.0}
    confirmation = {"stored": 4, "expected": 8, "training_seconds": 50.0}
    name = next(iter(committed_params["sweeps"]))
    write(sweep_metrics_path(tmp_path, name), {"runs": trials, "confirmation": confirmation})

    table = costs.cost_table(tmp_path, committed_params, "paper").set_index("experiment")

    fashion = table.loc["[FashionMNIST](#fashionmnist)"]
    assert fashion["runs stored"] == "49 of 64"
    assert fashion["training time (summed over the stored runs)"] == "2.5 h"
    assert fashion["runs at once"] == "1"
    cifar = table.loc["[CIFAR-10](#cifar-10)"]
    assert cifar["training time (summed over the stored runs)"] == "—"
    assert cifar["one GPU, estimated"] == "6 min (1 at once), 3 min (8 at once)"
    pinn = table.loc["[Beyond the paper](#beyond-the-paper-physics-informed-networks)"]
    assert pinn["training time (summed over the stored runs)"] == "96 min"
    assert pinn["runs at once"] == "one per CPU core"
    assert pinn["one GPU, estimated"] == "—"
    (sweep,) = [label for label in table.index if name in label]
    assert table.loc[sweep, "runs stored"] == "14 of 20"
    assert table.loc[sweep, "training time (summed over the stored runs)"] == "150 s"
    assert len(table) == 4  # the toy studies have no metrics here, so no row
