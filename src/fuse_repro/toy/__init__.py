"""The test-function study: functions with known minima, the grid of runs from seeded
starts, their summaries, figures and report section."""
