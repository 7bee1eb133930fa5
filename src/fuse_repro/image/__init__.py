"""Image classification: FashionMNIST and CIFAR-10 models, the training loop and grid of
runs, their summaries, figures and report section."""
