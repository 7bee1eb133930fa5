"""Train the runs a declared sweep (``sweeps`` in ``params.yaml``) still lacks, into the
folder its stage reads::

    python -m fuse_repro.sweep fashion_mnist_switch
    python -m fuse_repro.sweep fashion_mnist_tuning --point "adam adam.lr=0.00305"
    dvc repro sweep@fashion_mnist_switch   # then: its tables and figures

It can be stopped and started again at will (finished runs are kept, a run in progress
resumes from its last epoch); ``--point`` trains that point alone (its key as the sweep's
tables write it; ``--list`` prints every key).
"""

from __future__ import annotations

import argparse

from fuse_repro.core.paths import repository_root, sweep_dir
from fuse_repro.image.sweeps import run_sweep
from fuse_repro.params import load, resolve_sweep


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", help="a name under sweeps: in params.yaml")
    parser.add_argument("--point", help="train this point only (its key)")
    parser.add_argument("--list", action="store_true", help="print the points' keys and stop")
    args = parser.parse_args(argv)
    root = repository_root()
    base, points = resolve_sweep(load(root / "params.yaml"), args.sweep)
    if args.list:
        print("\n".join(point.key for point in points))
        return
    if args.point is not None:
        chosen = [point for point in points if point.key == args.point]
        if not chosen:
            parser.error(f"--point: {args.point!r} is no point of {args.sweep} (see --list)")
        points = chosen
    runs = sweep_dir(root, args.sweep) / "runs"
    run_sweep(base | {"missing_runs": "train"}, points, root / "prepared", runs)
    print(f"{runs}: the runs are stored; now run: dvc repro sweep@{args.sweep}")


if __name__ == "__main__":
    main()
