# skillkiln: `make demo` runs the main job, `make test` passes the tests. Both set up everything.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA_DIR ?= $(SKILLKILN_DATA_DIR)

.PHONY: install image demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 2; }
	@echo "installing skillkiln and its dependencies into $(VENV) (about a minute on a fresh clone)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Builds the sandbox image when a Docker daemon answers; says so and goes on when none does.
image: install
	@if docker info >/dev/null 2>&1; then $(BIN)/python -m sandbox.image build; \
	else echo "note: no Docker daemon answers: skipping the sandbox image (evolve will use the local backend)"; fi

demo: image
	$(BIN)/evolve --task cola --iters 25 $(if $(DATA_DIR),--data-dir $(DATA_DIR),)
	$(BIN)/skills list

test: image
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
