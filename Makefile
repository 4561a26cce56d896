# Every target that runs code first makes sure .venv is current: it is (re)built only
# when pyproject.toml or constraints.txt changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train sweep compare test bench lint tensorboard clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/lstm-train $(ARGS)

# The hidden size x layer count grid of configs/sweep/hidden_layers.yaml (ARGS for every run).
sweep: $(STAMP)
	$(BIN)/lstm-train sweep=hidden_layers $(ARGS)

# The comparison report of DIR (default: the latest sweep).
compare: $(STAMP)
	$(BIN)/lstm-compare $(or $(DIR),$(lastword $(sort $(wildcard outputs/sweeps/*))))

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/bench.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir $(or $(LOGDIR),outputs)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
