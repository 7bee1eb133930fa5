"""FUSE-PV under torch.distributed + DistributedDataParallel (CPU, gloo, 2 processes).

DDP averages the gradients, FUSE averages the closure's loss (and the monitored loss of
``switch="loss"``) over the ranks, so every rank must take the same line-search and switch
decisions and end with bitwise identical parameters and identical counters, although each
rank trains on a different shard of the data (its local losses differ).

All scenarios run in ONE pair of spawned processes (module-scoped fixture), because
starting a process and importing torch costs seconds on a small machine; each rank
writes its results to a file per scenario, and the tests compare the files.

Negative control: the same L-BFGS configuration with ``distributed=False`` makes each
rank decide on its own local loss; the parameters must then differ across ranks. It uses
``max_ls=1`` (every line search costs exactly one closure evaluation), so both ranks still
call DDP's backward (an all-reduce) the same number of times even when their decisions
disagree: with unequal counts the ranks' collectives would no longer pair up and the run
would hang until the gloo timeout. That is also how the positive scenarios fail when
the averaging is broken: ranks whose line searches disagree call the closure a different
number of times, and the run ends with a gloo "Timed out waiting ... for recv" error
(GLOO_TIMEOUT_S) from the spawned rank, shown with its traceback, instead of finishing.

The ``switch="loss"`` scenario is calibrated (fixed seeds) so that the rule fed with one
rank's loss alone would switch at a different epoch on each rank (rank 1's local loss
rises from the first epoch, rank 0's falls fast), while the mean switches at epoch 4.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import sys
import time

import pytest
import torch

WORLD_SIZE = 2
GLOO_TIMEOUT_S = 30
N_BATCHES, BATCH, DIM = 4, 32, 4  # per rank: one epoch = N_BATCHES steps

# Shared by every scenario: Adam hyper-parameters and L-BFGS settings.
_BASE = dict(lr=1e-2, history_size=5, max_iter=3)
# One closure evaluation per line search, so that every rank calls DDP's backward the same
# number of times whatever its decisions (see the module's docstring).
_MAX_LS1 = dict(
    _BASE, switch="epoch", switch_step=4, max_iter=1, max_ls=1, line_search="strong_wolfe"
)

SCENARIOS: dict[str, dict] = {
    # (a) switch by step count partway through epoch 3, then strong-Wolfe L-BFGS.
    "epoch_strong_wolfe": dict(
        epochs=6, fuse=dict(_BASE, switch="epoch", switch_step=10, line_search="strong_wolfe")
    ),
    # (b) switch by the monitored loss; each rank passes its own local shard loss.
    "loss_strong_wolfe": dict(
        epochs=7,
        fuse=dict(
            _BASE,
            switch="loss",
            warmup_epochs=1,
            patience=1,
            min_delta=0.04,
            line_search="strong_wolfe",
        ),
    ),
    # (c) fixed L-BFGS step (no line search), switch after two epochs.
    "epoch_fixed_step": dict(
        epochs=5, fuse=dict(_BASE, switch="epoch", switch_epoch=2, line_search=None, lbfgs_lr=0.5)
    ),
    # One closure evaluation per line search: the twin of the negative control.
    "epoch_max_ls1": dict(epochs=6, fuse=dict(_MAX_LS1, distributed=True)),
    # Negative control: as "epoch_max_ls1", but FUSE does not average the loss.
    "epoch_max_ls1_local": dict(epochs=6, fuse=dict(_MAX_LS1, distributed=False)),
}
POSITIVE = [name for name in SCENARIOS if not name.endswith("_local")]

COUNTER_KEYS = (
    "phase",
    "step",
    "epoch",
    "switch_step",
    "switch_epoch",
    "switch_reason",
    "closure_evals",
    "lbfgs_iterations",
    "skipped_pairs",
    "line_search_failures",
    "nonfinite_recoveries",
)


# ------------------------------------------------------------------ worker side
def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(DIM, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def _shard(rank: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A different shard per rank: rank 0 has a learnable (linear) target, rank 1 pure
    noise. Training on the mean makes rank 0's local loss fall fast and rank 1's rise, so
    the local losses, and their changes along a common direction, differ across ranks."""
    gen = torch.Generator().manual_seed(1000 + rank)
    x = torch.randn(N_BATCHES, BATCH, DIM, generator=gen)
    noise = torch.randn(N_BATCHES, BATCH, 1, generator=gen)
    if rank == 0:
        y = (x @ torch.linspace(-1.0, 1.0, DIM)).unsqueeze(-1) + 0.05 * noise
    else:
        y = noise
    return list(zip(x, y))


def _run_scenario(name: str, spec: dict, rank: int, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from fuse import FUSE

    model = _model()
    ddp = DDP(model)
    opt = FUSE(ddp.parameters(), **spec["fuse"])
    batches = _shard(rank)
    mse = torch.nn.functional.mse_loss
    monitored, step_losses = [], []
    for _ in range(spec["epochs"]):
        for x, y in batches:

            def closure(x=x, y=y):
                opt.zero_grad()
                loss = mse(ddp(x), y)
                loss.backward()
                return loss

            phase = opt.phase
            loss = opt.step(closure)
            step_losses.append((phase, float(loss.detach())))
        with torch.no_grad():  # the local loss on this rank's shard only (no collective)
            local = torch.stack([mse(model(x), y) for x, y in batches]).mean()
        monitored.append(float(local))
        opt.end_epoch(monitored_loss=local)
    params = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()
    torch.save(
        {
            "params": params,
            "counters": dict(opt.counters),
            "monitored": monitored,
            "step_losses": step_losses,
        },
        os.path.join(out_dir, f"{name}.rank{rank}.pt"),
    )
    dist.barrier()


def _worker(
    rank: int, world_size: int, init_file: str, out_dir: str, src_dir: str, names: list[str]
) -> None:
    """Entry point of a spawned rank (module level, so that spawn can pickle it)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    if src_dir not in sys.path:
        sys.path.insert(0, src_dir)
    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=GLOO_TIMEOUT_S),
    )
    try:
        for name in names:
            _run_scenario(name, SCENARIOS[name], rank, out_dir)
    finally:
        dist.destroy_process_group()


# -------------------------------------------------------------------- test side
@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, list[dict]]:
    """Run every scenario on 2 ranks once; {scenario: [rank 0 result, rank 1 result]}."""
    import torch.multiprocessing as tmp

    out_dir = tmp_path_factory.mktemp("fuse_ddp")
    init_file = out_dir / "filestore"  # must not exist yet: a fresh rendezvous
    here = pathlib.Path(__file__).resolve()
    src_dir = str(here.parents[1] / "src")
    with pytest.MonkeyPatch.context() as mp:
        # spawn hands the parent's sys.path to the children, which import this module
        # (by the name pytest gave it, e.g. "tests.test_fuse_distributed") to unpickle
        # _worker: the folder that name is relative to must be on the path.
        mp.syspath_prepend(str(here.parents[__name__.count(".")]))
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("MKL_NUM_THREADS", "1")
        start = time.perf_counter()
        # An exception in a rank raises ProcessRaisedException here, whose message holds
        # the rank's traceback; the other rank is terminated.
        tmp.spawn(
            _worker,
            args=(WORLD_SIZE, str(init_file), str(out_dir), src_dir, list(SCENARIOS)),
            nprocs=WORLD_SIZE,
            join=True,
        )
        print(f"2-rank run of {len(SCENARIOS)} scenarios: {time.perf_counter() - start:.1f} s")
    return {
        name: [torch.load(out_dir / f"{name}.rank{r}.pt") for r in range(WORLD_SIZE)]
        for name in SCENARIOS
    }


def _replay_loss_rule(
    losses: list[float], warmup: int, patience: int, min_delta: float
) -> int | None:
    """Epoch (1-based count of end_epoch calls) at which FUSE's "loss" rule fires."""
    best, bad = None, 0
    for epoch, value in enumerate(losses, start=1):
        if best is None or value < best - min_delta * abs(best):
            best, bad = value, 0
        else:
            bad += 1
        if epoch >= warmup and bad >= patience:
            return epoch
    return None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", POSITIVE)
def test_ranks_agree_bitwise(results, name):
    r0, r1 = results[name]
    # The test means something only if the ranks see different data.
    assert r0["monitored"] != r1["monitored"], "the shards should give different losses"
    c0, c1 = r0["counters"], r1["counters"]
    assert set(COUNTER_KEYS) <= set(c0)
    assert c0 == c1, f"counters differ across ranks:\n{c0}\n{c1}"
    assert c0["phase"] == "lbfgs" and c0["switch_step"] is not None
    assert c0["switch_reason"] is not None
    assert c0["lbfgs_iterations"] > 0, c0
    assert c0["closure_evals"] > c0["step"], "the L-BFGS phase re-evaluated no closure"
    assert torch.isfinite(r0["params"]).all()
    assert torch.equal(r0["params"], r1["params"]), (
        f"max |diff| = {(r0['params'] - r1['params']).abs().max():.3g}"
    )
    # In either phase the step returns this rank's own loss (as torch optimizers do);
    # only the decisions use the mean over ranks.
    lbfgs_losses = [[v for phase, v in r["step_losses"] if phase == "lbfgs"] for r in (r0, r1)]
    assert lbfgs_losses[0] and lbfgs_losses[0] != lbfgs_losses[1]


@pytest.mark.timeout(120)
def test_epoch_rule_switches_at_switch_step(results):
    c = results["epoch_strong_wolfe"][0]["counters"]
    assert c["switch_step"] == 10 and c["switch_epoch"] == 10 // N_BATCHES, c
    c = results["epoch_fixed_step"][0]["counters"]
    assert c["switch_epoch"] == 2 and c["switch_step"] == 2 * N_BATCHES, c


@pytest.mark.timeout(120)
def test_loss_rule_uses_the_mean_over_ranks(results):
    """The switch epoch is the one the rule gives on the mean of the ranks' monitored
    losses, and the ranks' own losses alone would have switched at different epochs."""
    spec = SCENARIOS["loss_strong_wolfe"]["fuse"]
    rule = dict(
        warmup=spec["warmup_epochs"], patience=spec["patience"], min_delta=spec["min_delta"]
    )
    r0, r1 = results["loss_strong_wolfe"]
    switch_epoch = r0["counters"]["switch_epoch"]
    assert switch_epoch is not None and "monitored loss" in r0["counters"]["switch_reason"]
    n = switch_epoch  # the monitored losses FUSE saw before (and at) the switch
    mean = [
        float((torch.tensor(a) + torch.tensor(b)) / WORLD_SIZE)
        for a, b in zip(r0["monitored"][:n], r1["monitored"][:n])
    ]
    assert _replay_loss_rule(mean, **rule) == switch_epoch
    # Up to the switch the trajectory is the Adam phase's, whatever the rule; on it, the
    # rule fed with one rank's loss only (no averaging) would decide differently per rank.
    local = [_replay_loss_rule(r["monitored"][:n], **rule) for r in (r0, r1)]
    assert local[0] != local[1], (
        f"calibration: the local losses should switch at different epochs, got {local}"
    )


@pytest.mark.timeout(120)
def test_negative_control_without_averaging_ranks_diverge(results):
    """distributed=False: the line search decides on each rank's own loss, so the ranks
    accept different steps and the parameters differ (this is what the test catches)."""
    r0, r1 = results["epoch_max_ls1_local"]
    c0, c1 = r0["counters"], r1["counters"]
    assert c0["lbfgs_iterations"] > 0 and c1["lbfgs_iterations"] > 0
    # Same number of closure evaluations (the DDP all-reduces paired up) ...
    assert c0["closure_evals"] == c1["closure_evals"]
    # ... but different decisions and different parameters.
    assert c0["line_search_failures"] != c1["line_search_failures"], (c0, c1)
    assert not torch.equal(r0["params"], r1["params"])
    # Its distributed twin agrees bitwise (checked in test_ranks_agree_bitwise too).
    t0, t1 = results["epoch_max_ls1"]
    assert torch.equal(t0["params"], t1["params"])
