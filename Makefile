PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench-specs screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(shell command -v $(PY) || echo python3) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# Full-page screenshots of every dashboard page at 1440 and 390 px (plus the axe-core report)
# into artifacts/ (git-ignored); the same browser tests run in `make test`.
screenshots: install
	$(BIN)/python -m pytest tests/browser/test_dashboard_pages.py -q -k "1440 or 390" $(PYTEST_ARGS)
	@echo "Screenshots: artifacts/screenshots/1440/ and artifacts/screenshots/390/"

bench-specs: install
	$(BIN)/python bench/spec_import.py

clean:
	rm -rf $(VENV) var/*.sqlite3
