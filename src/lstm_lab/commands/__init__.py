"""Each command's work on its composed config, as library functions: train.py (lstm-train),
evaluate.py (lstm-eval), predict.py (lstm-predict). api.py runs them in a Hydra job; cli/ only
parses the command line, calls api.py and prints."""
