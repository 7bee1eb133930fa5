"""The toy study's variants (fuse_repro.toy.grid) and the grid of cells they expand to."""

from fuse_repro.core.variants import Variant
from fuse_repro.toy import grid as toy_grid
from fuse_repro.toy import runs as toy


def test_variant_key_and_settings_override_their_block(settings):
    variant = Variant("fuse_pv_epoch", {"switch_epoch": 2})
    assert variant.key == "fuse_pv_epoch-switch_epoch=2"
    changed = variant.applied_to(settings)
    assert changed["fuse_pv"]["switch_epoch"] == 2
    assert changed["fuse_pv"]["lr"] == settings["fuse_pv"]["lr"]
    assert settings["fuse_pv"]["switch_epoch"] == 4  # the base settings is untouched
    fuse = Variant("fuse", {"theta": 0.25})
    assert fuse.arguments == {"theta": 0.25} and fuse.applied_to(settings) == settings


def test_grid_runs_scipy_noise_free_only_and_expands_theta_and_sweeps(settings):
    cells = toy.grid(settings)
    keys = {(toy_grid.function_key(c.spec), c.variant.key, c.noise) for c in cells}
    assert ("rosenbrock_2d", "scipy", 0.0) in keys and ("rosenbrock_2d", "scipy", 1.0) not in keys
    assert {
        ("rastrigin_2d", "fuse-theta=0", 1.0),
        ("rastrigin_2d", "fuse-theta=0.5", 0.0),
        ("rosenbrock_2d", "fuse_pv_epoch-switch_epoch=0", 1.0),
        ("rosenbrock_2d", "fuse_pv_epoch-history_size=3", 0.0),
    } <= keys
    assert ("rastrigin_2d", "fuse_pv_epoch-switch_epoch=0", 0.0) not in keys  # not ablated
    names = {c.file_name(settings) for c in cells}
    assert len(names) == len(keys)  # a cell in both parts has one file
