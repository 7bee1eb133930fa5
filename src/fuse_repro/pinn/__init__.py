"""The physics-informed study: FUSE-PV on PINNs, where Adam then L-BFGS is the standard recipe."""
