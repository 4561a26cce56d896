"""Run records: run directories and their names, what a run records, its checkpoints, a
trained run brought back, sweeps and the comparison of many runs."""
