# Two commands from a fresh clone: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.visionfit-installed

.PHONY: setup demo test lint docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/visionfit demo

# Two pytest workers, a test file each at a time (module fixtures train once): the suite is
# mostly single-threaded start-up (importing torch + Lightning) and tiny models, which one
# thread per worker runs as fast as two.
TEST_WORKERS ?= 2

# The suite starts visionfit a few hundred times: compiled bytecode (.pyc, which the
# environment may turn off) saves each start-up compiling visionfit's modules again.
test: setup
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

docs: setup
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
