# One-command set-up for tinygpt-tui. `make tui` launches the app, `make test` runs the test suite;
# both create the virtual environment in .venv first when it is missing or out of date.

PYTHON ?= python3
VENV   ?= .venv
# The PyTorch build to install. Pinned so a machine with a local CPU wheel (found through pip's
# find-links) uses it instead of downloading a multi-GB CUDA build; elsewhere pip fetches this
# version the normal way for the platform. Override with e.g. `make tui TORCH=torch`.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

.PHONY: tui test lint setup demo clean

tui: $(VENV)/.installed
	$(BIN)/tinygpt-tui

demo: $(VENV)/.installed
	$(BIN)/tinygpt demo

test: $(VENV)/.installed
	$(BIN)/ruff check tinygpt_tui tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check tinygpt_tui tests benchmarks
	$(BIN)/lint-imports

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[dev,hf]"
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
