"""Reproduction of the FUSE optimizer paper: data, models, optimizers, training and reporting."""
