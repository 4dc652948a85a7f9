# Everyday commands. `make dev` and `make test` are the README's two commands.
VENV ?= .venv
PY := $(VENV)/bin/python
ACTIVATE := . $(VENV)/bin/activate &&

.PHONY: dev test setup lint typecheck security schemas unit integration clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

dev: setup  ## run the whole system on an embedded broker with demo data
	$(ACTIVATE) signpost dev $(ARGS)

test: setup lint typecheck security  ## every check CI runs
	$(ACTIVATE) signpost schemas export --check
	$(ACTIVATE) python -m pytest -q -p no:cacheprovider

lint: setup
	$(ACTIVATE) ruff check .

typecheck: setup
	$(ACTIVATE) mypy

security: setup  ## static security checks of the product code
	$(ACTIVATE) bandit -q -c pyproject.toml -r schemas services signpost

schemas: setup
	$(ACTIVATE) signpost schemas export

unit: setup
	$(ACTIVATE) python -m pytest -q tests/unit

integration: setup
	$(ACTIVATE) python -m pytest -q -m integration

clean:
	rm -rf $(VENV) .signpost-data .mypy_cache .ruff_cache .pytest_cache
