# The README's two commands: `make demo` and `make test`. Each does all of its own set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-deps install devcluster-up devcluster-status devcluster-down bench

# The virtual environment, rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

devcluster-up:
	scripts/devcluster up

devcluster-status:
	scripts/devcluster status

devcluster-down:
	scripts/devcluster down

demo: install devcluster-up
	$(BIN)/mpflow demo

# System packages the tests need beyond pyproject (chromium for the report test).
test-deps:
	scripts/test-deps

test: install devcluster-up test-deps
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install devcluster-up
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done
