"""Data parallelism across processes started by ``torchrun``: who this process is, the
share of a batch it takes, and sums over all of them.

Every process sees the same batch order; each takes every ``size``-th example of a batch
(``batch[rank::size]``), DistributedDataParallel averages the gradients, and losses and
evaluation sums are all-reduced, so every process holds the same numbers and its
optimizer takes the same decisions.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import partial

import torch
import torch.distributed as dist

from fuse_repro.core.processes import die_with_parent


@dataclass(frozen=True)
class World:
    """This process's ``rank`` among ``size`` processes (0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> World:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def main(self) -> bool:
        """True on the process that writes files and prints progress."""
        return self.rank == 0

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's examples of a batch: every ``size``-th, from ``rank``."""
        return tensor[self.rank :: self.size]

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over all processes (``tensor`` itself alone)."""
        if self.size > 1:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.sum(tensor) / self.size

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.size > 1:
            dist.barrier()


SINGLE_PROCESS = World()
"""The world of a run without torchrun: rank 0 of 1."""


def launch(processes: int, module: str, arguments: list[str]) -> None:
    """Run ``python -m module arguments`` in ``processes`` processes on this machine
    (``torchrun --standalone``); raises ``CalledProcessError`` if any of them fails.
    torchrun gets SIGTERM (and stops its workers) if this process dies, however killed."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            module,
            *arguments,
        ],
        check=True,
        preexec_fn=partial(die_with_parent, signal.SIGTERM),
    )
