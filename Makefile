# The two commands of the README are `make demo` and `make test`; both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help setup demo serve test test-fast lint format messages bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create the virtual environment and install the project with its test tools

demo: setup ## create demo data, then run the service on the embedded default (SQLite, embedded broker)
	$(BIN)/rucksack demo
	$(BIN)/rucksack serve

serve: setup ## run the service with the current settings
	$(BIN)/rucksack serve

test: setup ## run the whole test suite in two processes (PostgreSQL, Redis and Chromium tests included where available)
	$(BIN)/pytest -n 2

test-fast: setup ## unit tests and SQLite only
	RUCKSACK_TEST_BACKENDS=sqlite $(BIN)/pytest -m "not browser and not redis and not slow"

lint: setup ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator integrations calendars workers

format: setup ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: setup ## extract translatable strings and update every catalog
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k pgettext:1c,2 -o orchestrator/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i orchestrator/translations/messages.pot -d orchestrator/translations --no-fuzzy-matching --ignore-obsolete

bench: setup ## run the benchmarks in bench/ (see docs/performance.md; needs PostgreSQL, Redis, wrk)
	$(BIN)/python -m bench.feeds
	$(BIN)/python -m bench.feeds --backend postgresql
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.process --celery redis://127.0.0.1:6379/14
	$(BIN)/python -m bench.reports

clean: ## remove the virtual environment and the embedded data
	rm -rf $(VENV) var
