"""The networks of the experiments, as in the paper's official code (FOSSO ``models.py``).

FashionMNIST: a LeNet-style CNN (conv 6@5x5, pool, conv 16@5x5, pool, 120, 84, 10) and a
784-64-32-10 MLP, both ReLU, no normalisation layers, inputs in [0, 1]. The official MLP
ends in ``log_softmax`` before ``CrossEntropyLoss``; ``log_softmax`` is idempotent under
the loss's own ``log_softmax``, so the logits are returned directly (same loss, same
gradients).

CIFAR-10: DenseNets for 32x32 inputs (Huang et al., CVPR 2017, Sec. 3 and 4.1), built
from :class:`torchvision.models.DenseNet` with the CIFAR stem (one 3x3 convolution with
``2k`` channels, no pooling) instead of the ImageNet one:

* ``densenet_paper``: what the paper's command builds, ``DenseNet3(depth=5,
  growth_rate=32, reduction=0.5, bottleneck=False)`` of A. Veit's densenet-pytorch (the
  class and signature the official ``main.py`` calls). Each of its 3 dense blocks has
  ``int((5 - 4) / 3) = 0`` layers, so the network is conv 3x3 (64) -> transition (BN,
  ReLU, conv 1x1 to 32, avg-pool 2) -> transition (to 16) -> BN, ReLU, global average pool
  -> linear 16 -> 10: 4,682 parameters and no dense layer at all.
* ``densenet_bc100``: DenseNet-BC, L = 100, k = 12 (3 blocks of 16 bottleneck layers,
  compression 0.5): 769,162 parameters, the standard CIFAR DenseNet.

Convolutions start from N(0, 2 / (k^2 * out_channels)) as in densenet-pytorch (He
initialisation, fan-out mode); batch norms from (1, 0); the classifier's bias from 0.
"""

from __future__ import annotations

import torch
import torchvision
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


def cifar_densenet(
    growth_rate: int, block_config: tuple[int, int, int], bn_size: int = 4
) -> torchvision.models.DenseNet:
    """A CIFAR DenseNet (see the module docstring): ``2 * growth_rate`` initial channels,
    compression 0.5 at each transition, 10 classes."""
    model = torchvision.models.DenseNet(
        growth_rate=growth_rate,
        block_config=block_config,
        num_init_features=2 * growth_rate,
        bn_size=bn_size,
        num_classes=10,
    )
    features = model.features
    features.conv0 = nn.Conv2d(3, 2 * growth_rate, kernel_size=3, padding=1, bias=False)
    features.norm0, features.relu0, features.pool0 = nn.Identity(), nn.Identity(), nn.Identity()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return model


MODELS = {
    "cnn": FashionCNN,
    "mlp": FashionMLP,
    "densenet_paper": lambda: cifar_densenet(32, (0, 0, 0)),
    "densenet_bc100": lambda: cifar_densenet(12, (16, 16, 16)),
}

MODEL_LABELS = {
    "cnn": "CNN",
    "mlp": "MLP",
    "densenet_paper": "DenseNet (paper's)",
    "densenet_bc100": "DenseNet-BC-100",
}
"""How the report, tables and figures name each model of :data:`MODELS`."""


def model_label(name: str) -> str:
    """The display name of model ``name`` (its key where none is declared)."""
    return MODEL_LABELS.get(name, name)


def build_model(name: str, seed: int) -> nn.Module:
    """A fresh model whose initial weights depend on ``seed`` alone (so every optimizer
    starts from the same weights for a seed, and seeds differ)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {sorted(MODELS)})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name]()


def parameter_count(name: str) -> int:
    """The number of trainable parameters of model ``name``."""
    return sum(p.numel() for p in build_model(name, seed=0).parameters() if p.requires_grad)
