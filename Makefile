# The README's two commands: `make demo` and `make test`. Each does all of its own set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-deps install devcluster-up devcluster-status devcluster-down test-services-up bench server server-stop

# The virtual environment, rebuilt when pyproject.toml changes.  PYTHONWARNINGS=ignore: setuptools
# warns about every editable install of a mapped layout (flows/ as mpflow.flows), which is noise here.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

devcluster-up:
	scripts/devcluster up

devcluster-status:
	scripts/devcluster status

devcluster-down:
	scripts/devcluster down

# PostgreSQL for the tests that run on both database engines (installed from Debian when missing).
test-services-up:
	scripts/test-services up

demo: install devcluster-up
	$(BIN)/mpflow demo

# System packages the tests need beyond pyproject (chromium for the report test).
test-deps:
	scripts/test-deps

test: install devcluster-up test-services-up test-deps
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install devcluster-up test-services-up
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The Prefect server, worker and deployments of one project (default: a dev project in .mpflow-dev/,
# created on first use); `make server PROJECT=DIR` for another. `make server-stop` stops them.
PROJECT ?= .mpflow-dev

server: install devcluster-up
	test -f $(PROJECT)/mpflow.toml || $(BIN)/mpflow init $(PROJECT) --dev --name dev
	$(BIN)/mpflow server start --project $(PROJECT)

server-stop:
	$(BIN)/mpflow server stop --project $(PROJECT)
