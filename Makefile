# `make train` and `make test` work on a fresh clone: both install first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
SWEEP ?= model=gan,dcgan loss=bce,minimax seed=1,2
SHARED_DATA := ../shared/data

.PHONY: install train sweep report bench gpu-check test lint format strip-notebooks data clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes; a second `make install` does nothing.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,inception]'
	touch $(STAMP)

# Link MNIST and Fashion-MNIST from ../shared when they are there (offline machines); otherwise
# torchvision downloads them.
data:
	@for name in MNIST FashionMNIST; do \
		shared=$(SHARED_DATA)/$$name/raw; \
		if [ -d $$shared ]; then \
			mkdir -p data/$$name/raw; \
			for f in $$shared/*-ubyte*; do ln -sf "$$(cd $$shared && pwd)/$$(basename $$f)" data/$$name/raw/; done; \
		fi; \
	done

train: install data
	$(BIN)/python -m gan.train model=dcgan $(ARGS)

# The sweep, then its report (also when some jobs failed: the report lists them).
sweep: install data
	$(BIN)/python -m gan.train -m $(SWEEP) $(ARGS); status=$$?; \
	$(BIN)/python -m gan.report "$$(ls -td multirun/*/*/ | head -1)"; exit $$status

# The report of a sweep: `make report DIR=multirun/<date>/<time>` (default: the newest).
report: install
	$(BIN)/python -m gan.report "$${DIR:-$$(ls -td multirun/*/*/ | head -1)}"

# Throughput of plain PyTorch vs Lightning vs the fast path, and the time of FID-MNIST on 10k
# samples; writes bench.json. `make bench ARGS=--quick` for a run under a minute.
bench: install data
	$(BIN)/python -m gan.bench --fid $(ARGS)

# The GPU check (gan/gpu_check.py): GPU tests, an epoch of the fast path, the benchmark on CUDA,
# Inception timing; writes gpu_check/gpu_check.json and .log. Without a GPU those parts are skipped.
gpu-check: install data
	$(BIN)/python -m gan.gpu_check $(ARGS)

test: install data
	$(BIN)/python -m pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Notebooks are committed without outputs (tests/test_notebook.py checks).
strip-notebooks: install
	for nb in notebooks/*.ipynb; do $(BIN)/python -c "import nbformat as n, sys; \
	nb = n.read(sys.argv[1], 4); \
	[c.update(outputs=[], execution_count=None) for c in nb.cells if c.cell_type == 'code']; \
	n.write(nb, sys.argv[1])" $$nb; done

clean:
	rm -rf outputs multirun gpu_check .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
