"""Finished runs on disk, so that a crash loses nothing already computed.

Each run's table is one file whose name ends in a digest of everything its result depends
on: its settings, the data, the device type, the torch version and :data:`NUMERICS_VERSION`.
A stage's run folder is a persisted DVC output: rerunning the stage reads back the files
whose digest still matches, computes the others, and deletes the files of runs that are no
longer asked for or whose inputs changed.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
import torch

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


def stored_runs(
    directory: Path,
    jobs: dict[str, Callable[[], pd.DataFrame]],
    workers: int = 1,
    writer: bool = True,
) -> Iterator[tuple[str, pd.DataFrame, bool]]:
    """For each ``name -> compute`` of ``jobs``: ``(name, table, kept)``.

    ``kept`` is True when ``directory/name`` existed and was read back; otherwise the table
    is computed and written as soon as it is done (atomically: a temporary file, then a
    rename), so an interruption never leaves a partial file and loses no finished job.
    Files in ``directory`` that no job names are deleted first. With ``workers > 1`` the
    jobs to compute run in that many processes (``compute`` must then be picklable) and
    are yielded as they finish; otherwise everything comes in the order of ``jobs``. A
    name ending in ``.gz`` is written gzip-compressed with a zero timestamp, so equal
    tables give equal bytes. ``writer=False`` (all processes of a data-parallel run but
    one) reads and computes alike but neither writes nor deletes.
    """
    if writer:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in set(directory.iterdir()) - {directory / name for name in jobs}:
            stale.unlink()
    missing = {}
    for name, compute in jobs.items():
        if (directory / name).is_file():
            yield name, pd.read_csv(directory / name), True
        elif workers == 1:
            table = compute()
            yield name, _write(directory / name, table) if writer else table, False
        else:
            missing[name] = compute
    if not missing:
        return
    context = multiprocessing.get_context("spawn")  # no forked torch state
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        futures = {pool.submit(compute): name for name, compute in missing.items()}
        try:
            for future in as_completed(futures):
                name = futures[future]
                yield name, _write(directory / name, future.result()), False
        except BaseException:  # a failed job or an interrupt: finished ones are written
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _write(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    partial = path.with_name(f".{path.name}.partial")
    compression = {"method": "gzip", "mtime": 0} if path.name.endswith(".gz") else None
    table.to_csv(partial, index=False, compression=compression)
    partial.replace(path)
    return table
