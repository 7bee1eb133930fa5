"""The networks of the experiments, as in the paper's official code (FOSSO ``models.py``).

FashionMNIST: a LeNet-style CNN (conv 6@5x5, pool, conv 16@5x5, pool, 120, 84, 10) and a
784-64-32-10 MLP, both ReLU, no normalisation layers, inputs in [0, 1]. The official MLP
ends in ``log_softmax`` before ``CrossEntropyLoss``; ``log_softmax`` is idempotent under
the loss's own ``log_softmax``, so the logits are returned directly (same loss, same
gradients).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class FashionCNN(nn.Module):
    """Official ``ConvolutionalNeuralNet``: 44,426 parameters for 1x28x28 inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class FashionMLP(nn.Module):
    """Official ``MultilayerPerceptron``: 784-64-32-10, 52,650 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(784, 64)
        self.linear2 = nn.Linear(64, 32)
        self.linear3 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        return self.linear3(F.relu(self.linear2(F.relu(self.linear1(x)))))


MODELS = {"cnn": FashionCNN, "mlp": FashionMLP}


def build_model(name: str, seed: int) -> nn.Module:
    """A fresh model whose initial weights depend on ``seed`` alone (so every optimizer
    starts from the same weights for a seed, and seeds differ)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {sorted(MODELS)})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name]()
