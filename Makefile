# One entry point for people and CI. Every target sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What running needs (the demo and the private servers), and that plus the test tools.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install test lint run bench clean new-project

install: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded,demo]'
	touch $(RUN_STAMP)

# One resolve for everything, which covers the run stamp too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,embedded,demo]'
	touch $(RUN_STAMP) $(DEV_STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff over the tree, then mypy over moi and app (both configured in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

run: $(RUN_STAMP)
	$(BIN)/python -m app $(if $(PORT),--port $(PORT)) $(RUN_ARGS)

# make new-project DEST=../mysite PACKAGE=mysite TITLE="My Site"
new-project: $(RUN_STAMP)
	$(BIN)/python -m app.newproject "$(DEST)" --package "$(PACKAGE)" $(if $(TITLE),--title "$(TITLE)")

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
