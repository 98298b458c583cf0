# The two commands of the quick start are `make run` and `make test`; each creates the
# virtual environment and installs the project first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint format bench soak fuzz install clean translations

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (PYTHON=$(PYTHON))")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtual environment. On Debian: apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/open311 demo

# Coverage of the three packages, branches included, printed at the end (files at 100% left
# out). Kept here rather than in addopts so a single test run by hand stays quick and quiet.
COVERAGE := --cov=open311 --cov=adapters --cov=schemas --cov-branch --cov-report=term:skip-covered

test: $(STAMP)
	$(BIN)/python -m pytest -q $(COVERAGE)

CODE := open311 adapters schemas tests bench

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

bench: $(STAMP)
	$(BIN)/python -m bench

# A few minutes of mixed load with a flapping back-end (SOAK_SECONDS=120 by default).
soak: $(STAMP)
	$(BIN)/python -m bench.soak

# The long fuzz campaign: schemathesis against openapi.yaml, FUZZ_EXAMPLES cases per
# operation and mode (300 by default; the suite runs 25), on a fresh SQLite file or on
# FUZZ_DATABASE_URL; prints a summary and exits 1 on any failure (docs/security.md).
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz

# Page strings: extract them, merge into each language's catalogue, compile the .mo files
# (committed, so a fresh clone runs without this step). A new language: add it to
# LANGUAGES in open311/i18n.py and run `pybabel init -l CODE` once (docs/configuration.md).
I18N := open311/translations
translations: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -o $(I18N)/messages.pot open311
	$(BIN)/pybabel update --no-fuzzy-matching -i $(I18N)/messages.pot -d $(I18N)
	$(BIN)/pybabel compile -d $(I18N)

clean:
	rm -rf $(VENV) instance .pytest_cache
