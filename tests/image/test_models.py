"""The image models (fuse_repro.image.models): the paper's DenseNet and DenseNet-BC-100,
their sizes, initialisation and seeding."""

import math

import pytest
import torch

from fuse_repro.image.models import build_model, parameter_count


def test_the_papers_densenet_has_no_dense_layer_and_4682_parameters():
    model = build_model("densenet_paper", seed=0)
    assert parameter_count("densenet_paper") == 4682
    assert all(
        len(block) == 0
        for name, block in model.features.named_children()
        if name.startswith("denseblock")
    )
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 64, (3, 3)),
        (64, 32, (1, 1)),
        (32, 16, (1, 1)),
    ]
    std = convs[0].weight.std().item()  # He initialisation, fan-out: sqrt(2 / (9 * 64))
    assert std == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.1)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_densenet_bc100_is_the_standard_cifar_model():
    assert parameter_count("densenet_bc100") == 769_162  # 0.8M, Huang et al. Table 2
    model = build_model("densenet_bc100", seed=0)
    assert [len(b) for n, b in model.features.named_children() if n.startswith("denseblock")] == [
        16,
        16,
        16,
    ]


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_model("densenet_paper", s).features.conv0.weight for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
