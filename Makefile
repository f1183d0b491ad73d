# One entry point for people and CI. Every target sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint run bench clean new-project

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,embedded,demo]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff over the tree, then mypy over moi and app (both configured in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

run: install
	$(BIN)/python -m app $(if $(PORT),--port $(PORT)) $(RUN_ARGS)

# make new-project DEST=../mysite PACKAGE=mysite TITLE="My Site"
new-project: install
	$(BIN)/python -m app.newproject "$(DEST)" --package "$(PACKAGE)" $(if $(TITLE),--title "$(TITLE)")

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
