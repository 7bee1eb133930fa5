"""Count host-device synchronisations per optimizer step on a CUDA GPU.

``torch.cuda.set_sync_debug_mode("warn")`` makes every synchronising CUDA call (``.item()``,
``.tolist()``, ``float(tensor)``, a data-dependent shape, ...) emit a warning; this script
counts them for one step of each optimizer, from the same model and mini-batch:

* FUSE in its Adam phase and ``torch.optim.Adam(foreach=True)`` (FUSE's target: 0);
* FUSE in its L-BFGS phase and ``torch.optim.LBFGS`` (history 10, strong Wolfe,
  ``max_iter=1``, ``max_eval=26``), per iteration and per closure evaluation, after both
  have filled their history.

The closure itself (forward, cross-entropy, backward) synchronises nowhere, so every count
is the optimizer's. Usage (needs CUDA; exits with a message otherwise)::

    python benchmarks/gpu_sync_check.py
"""

from __future__ import annotations

import sys
import warnings

import torch
from torch.nn import functional as F

from fuse import FUSE


def count_syncs(step) -> int:
    """Synchronisations during one call of ``step``."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in caught)


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(784, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    ).cuda()


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_sync_check: CUDA is not available on this machine", file=sys.stderr)
        return 2
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(256, 784, device="cuda", generator=gen)
    y = torch.randint(0, 10, (256,), device="cuda", generator=gen)
    optimizers = {
        "FUSE, Adam phase": lambda p: FUSE(p, foreach=True, switch="epoch", switch_epoch=10**9),
        "torch.optim.Adam(foreach=True)": lambda p: torch.optim.Adam(p, foreach=True),
        "FUSE, L-BFGS phase": lambda p: FUSE(p, theta=0.0),
        "torch.optim.LBFGS": lambda p: torch.optim.LBFGS(
            p, history_size=10, max_iter=1, max_eval=26, line_search_fn="strong_wolfe"
        ),
    }
    print("| optimizer | host syncs per step | closure evaluations per step |")
    print("|---|---:|---:|")
    for name, build in optimizers.items():
        model = mlp()
        optimizer = build(model.parameters())
        evaluations = 0

        def closure():
            nonlocal evaluations
            evaluations += 1
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss

        for _ in range(15):  # fill the L-BFGS history; warm up the kernels
            optimizer.step(closure)
        evaluations = 0
        syncs = count_syncs(lambda: optimizer.step(closure))
        print(f"| {name} | {syncs} | {evaluations} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
