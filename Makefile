# Every target that runs code first makes sure its virtual environment is current: it is
# (re)built only when pyproject.toml or constraints.txt changed since the last install.
#
# Two environments. .venv (make train, sweep, bench, ...) holds the package and the `parallel`
# and `slurm` extras; .venv-dev (make test, lint) adds pytest, ruff and the `optuna` extra.
# Optuna needs scipy, and with scipy installed every `import lightning` also imports
# scipy.signal (through torchmetrics): about 1.3 s more for every run and every sweep worker.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_VENV := .venv-dev
DEV_BIN := $(DEV_VENV)/bin
DEV_STAMP := $(DEV_VENV)/.installed

.PHONY: install extras train sweep compare test bench bench-transforms bench-horizon bench-peers lint tensorboard clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[parallel,slurm]'
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml constraints.txt
	test -x $(DEV_BIN)/python || $(PYTHON) -m venv $(DEV_VENV)
	$(DEV_BIN)/python -m pip install --quiet --upgrade pip
	$(DEV_BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(DEV_STAMP)

# Optional extras into .venv, e.g. `make extras EXTRAS=optuna` for hparams_search=optuna.
extras: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'

train: $(STAMP)
	$(BIN)/lstm-train $(ARGS)

# The hidden size x layer count grid of configs/sweep/hidden_layers.yaml (ARGS for every run).
sweep: $(STAMP)
	$(BIN)/lstm-train sweep=hidden_layers $(ARGS)

# The comparison report of DIR (default: the latest sweep).
compare: $(STAMP)
	$(BIN)/lstm-compare $(or $(DIR),$(lastword $(sort $(wildcard outputs/sweeps/*))))

# The suite on one worker per core (pytest-xdist; TEST_WORKERS=0 runs it in one process). A worker
# that runs out of tests takes some of the other's (worksteal): the end-to-end runs left at the
# end no longer keep one core idle.
TEST_WORKERS ?= auto

test: $(DEV_STAMP)
	$(DEV_BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(ARGS)

# Test MSE of each data.transform against the naive baselines (docs/transforms.md).
bench-transforms: $(STAMP)
	$(BIN)/python scripts/bench_transforms.py $(ARGS)

# Direct against recursive multi-step forecasts, scored at every step (docs/transforms.md).
bench-horizon: $(STAMP)
	$(BIN)/python scripts/bench_horizon.py $(ARGS)

# lstm-lab against darts and neuralforecast (docs/benchmarks.md). The peers are large, so they
# get their own environment, built from the `peers` extra (torch pinned: the CPU build).
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed

$(PEERS_STAMP): pyproject.toml constraints.txt constraints-peers.txt
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet -c constraints.txt -c constraints-peers.txt -e '.[peers]'
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)
	$(PEERS_VENV)/bin/python scripts/bench_peers.py $(ARGS)

lint: $(DEV_STAMP)
	$(DEV_BIN)/ruff check src tests scripts
	$(DEV_BIN)/ruff format --check src tests scripts

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir $(or $(LOGDIR),outputs)

clean:
	rm -rf $(VENV) $(DEV_VENV) $(PEERS_VENV) .pytest_cache .ruff_cache
