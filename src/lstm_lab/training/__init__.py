"""The training machinery: one run from a validated config to its files (run.py) and what
keeps it safe, parallel and within the machine (safeguards, distributed, strategies, threads)."""
