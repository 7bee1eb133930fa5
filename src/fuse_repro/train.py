"""Train the runs an experiment's grid still lacks, into the folder its stage reads.

The paper scale's stages never train (``missing_runs: report`` in ``params.yaml``): its
runs take hours, are committed to git as they finish, and are trained by this command
only, which can be stopped and started again at will (finished runs are kept, a run in
progress resumes from its last epoch)::

    python -m fuse_repro.train fashion_mnist --scale paper
    python -m fuse_repro.train toy --scale paper
    python -m fuse_repro.train pinn --scale paper
    dvc repro   # then: summaries, figures and the report from the runs now present

It trains exactly what the stage would (the same settings, code and run files).
"""

from __future__ import annotations

import argparse

from fuse_repro.core.paths import repository_root, results_dir
from fuse_repro.image.runs import run_experiment
from fuse_repro.image.settings import DATASETS
from fuse_repro.params import EXPERIMENTS, SCALES, load, resolve
from fuse_repro.pinn.runs import run_grid
from fuse_repro.toy.runs import run_cells


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--scale", choices=SCALES, default="paper")
    args = parser.parse_args(argv)
    root = repository_root()
    settings = resolve(load(root / "params.yaml"), args.experiment, args.scale)
    settings["missing_runs"] = "train"
    runs = results_dir(root, args.scale, args.experiment) / "runs"
    if args.experiment in DATASETS:
        run_experiment(settings, root / "prepared", runs)
    elif args.experiment == "pinn":
        run_grid(settings, runs)
    else:
        run_cells(settings, runs)
    print(f"{runs}: every run of the grid is stored; now run: dvc repro")


if __name__ == "__main__":
    main()
