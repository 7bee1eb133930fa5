"""Finished runs on disk, so that a crash loses nothing already computed.

Each run's table is one file whose name ends in a digest of everything its result depends
on: its settings, the data, the device type, the torch version and :data:`NUMERICS_VERSION`.
A stage's run folder is a persisted DVC output: rerunning the stage reads back the files
whose digest still matches and computes the others.

Nothing finished is ever deleted by a stage: a file that no job names belongs to other
settings (the other scale, an earlier value) and stays valid for them, so switching back
costs nothing; delete a run folder by hand to reclaim its space. A file that cannot be read
back, or that fails its family's check (columns, row count), is named, set aside as
``<name>.damaged`` and computed again: never trusted, never a permanent blocker.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from fuse_repro.core.processes import cores, die_with_parent

NUMERICS_VERSION = 1
"""The version of the numbers that training computes. A refactor that changes no number
keeps every stored run valid; a change of code that changes any number a run logs (the
optimizer's arithmetic, the training loop, a model's initialisation, the data pipeline)
must bump it, which marks every stored run stale. The golden tests
(``tests/test_golden.py``) enforce this: they fail until the golden logs are regenerated,
and regenerating them refuses to write changed numbers under an unchanged version."""


def digest(*parts: Any) -> str:
    """A 16-hex-digit digest of ``parts`` (JSON with sorted keys), the torch version and
    :data:`NUMERICS_VERSION`: callers pass every other input of the run."""
    blob = json.dumps(
        [list(parts), torch.__version__, NUMERICS_VERSION], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def later_settings(settings: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``earlier`` (settings added after runs were stored, each with the
    value that gives what those runs did) whose value in ``settings`` differs from it: only
    these enter a run's identity, so adding an option keeps every stored run valid. A
    setting ``settings`` lacks (as the golden logs' settings predate it) has its earlier
    value."""
    return {k: settings[k] for k, old in earlier.items() if settings.get(k, old) != old}


MISSING_RUNS = ("train", "report")
"""What a stage does with the runs its grid lacks: ``train`` them (the quick scale), or
``report`` them as missing and summarise the runs present (the paper scale, whose runs are
committed to git: its stage never starts hours of training by accident; its runs are
trained by an explicit command, see the README)."""

Check = Callable[[str, pd.DataFrame], str | None]
"""``check(name, table)``: what is wrong with a run read back from file ``name`` (None: it
is complete)."""


def stored_runs(
    directory: Path,
    jobs: dict[str, Callable[[], pd.DataFrame]],
    workers: int = 1,
    writer: bool = True,
    check: Check | None = None,
    train: bool = True,
) -> Iterator[tuple[str, pd.DataFrame, bool]]:
    """For each ``name -> compute`` of ``jobs``: ``(name, table, kept)``; with
    ``train=False`` only for the jobs already stored (the others are neither computed nor
    yielded).

    ``kept`` is True when ``directory/name`` existed, was read back and passed ``check``;
    otherwise the table is computed and written as soon as it is done (atomically: a
    temporary file, then a rename), so an interruption never leaves a partial file and
    loses no finished job; temporary files of an interrupted write are removed first.
    With ``workers > 1`` the jobs to compute run in that many processes (``compute`` must
    then be picklable; the workers die with this process, however it is stopped) and are
    yielded as they finish; otherwise everything comes in the order of ``jobs``. A name
    ending in ``.gz`` is written gzip-compressed with a zero timestamp, so equal tables
    give equal bytes. ``writer=False`` (all processes of a data-parallel run but one)
    reads and computes alike but writes nothing.
    """
    if writer:
        directory.mkdir(parents=True, exist_ok=True)
        for partial in directory.glob(".*.partial"):
            partial.unlink()
    missing = {}
    for name, compute in jobs.items():
        table = read_run(directory / name, check, writer)
        if table is not None:
            yield name, table, True
        elif not train:
            continue
        elif workers == 1:
            table = compute()
            yield name, _write(directory / name, table) if writer else table, False
        else:
            missing[name] = compute
    if not missing:
        return
    context = multiprocessing.get_context("spawn")  # no forked torch state
    with context.Pool(min(workers, len(missing)), initializer=_worker_setup) as pool:
        try:
            for name, table in pool.imap_unordered(_compute, missing.items()):
                yield name, _write(directory / name, table), False
        except BaseException:  # a failed job or an interrupt: finished ones are written
            pool.terminate()
            raise


def collect_runs(
    directory: Path,
    jobs: dict[str, Callable[[], pd.DataFrame]],
    settings: dict[str, Any],
    check: Check,
    unit: str = "run",
) -> list[pd.DataFrame]:
    """The tables of ``jobs`` (:func:`stored_runs`), in the order of ``jobs``, for an
    experiment's ``settings``: ``workers`` processes (``auto``: one per CPU core; never more
    than the cores), and the jobs not stored computed only with ``missing_runs: train``;
    otherwise they are named, with the command that trains them."""
    workers = cores() if settings["workers"] == "auto" else min(settings["workers"], cores())
    if settings["workers"] != "auto" and settings["workers"] > workers:
        print(f"workers: {settings['workers']} asked for, {workers} used (the CPU cores)")
    train = settings["missing_runs"] == "train"
    frames = {}
    for name, frame, _ in tqdm(
        stored_runs(directory, jobs, workers, check=check, train=train),
        total=len(jobs),
        desc=f"{unit}s",
        unit=unit,
        mininterval=5,
    ):
        frames[name] = frame
    if len(frames) < len(jobs):
        print(
            f"{len(jobs) - len(frames)} of {len(jobs)} {unit}s not stored and not computed "
            f"here (missing_runs: report); run them with: python -m fuse_repro.train "
            f"{settings['experiment']} --scale {settings['scale']}"
        )
    return [frames[name] for name in jobs if name in frames]


def read_run(path: Path, check: Check | None = None, writer: bool = True) -> pd.DataFrame | None:
    """The run stored at ``path``; None when there is none, or when it is damaged: then it
    is named on stderr and (``writer``) set aside as ``<name>.damaged``."""
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, EOFError, ValueError, zlib.error, pd.errors.ParserError) as error:
        problem = f"unreadable: {error}"
    else:
        problem = check(path.name, table) if check else None
        if problem is None:
            return table
    aside = path.with_name(f"{path.name}.damaged")
    print(
        f"{path}: damaged run file ({problem}); "
        + (f"set aside as {aside.name}, computing it again" if writer else "computing it again"),
        file=sys.stderr,
    )
    if writer:
        path.replace(aside)
    return None


def _worker_setup() -> None:
    die_with_parent()
    torch.set_num_threads(1)


def _compute(job: tuple[str, Callable[[], pd.DataFrame]]) -> tuple[str, pd.DataFrame]:
    name, compute = job
    return name, compute()


def _write(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    partial = path.with_name(f".{path.name}.partial")
    compression = {"method": "gzip", "mtime": 0} if path.name.endswith(".gz") else None
    table.to_csv(partial, index=False, compression=compression)
    partial.replace(path)
    return table
