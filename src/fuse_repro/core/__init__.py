"""The parts every experiment shares: the settings schema, the optimizer registry, the run
store, data-parallel launch and the datasets."""
