# `make train` and `make test` work on a fresh clone: both install first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
SWEEP ?= model=gan,dcgan loss=bce,minimax seed=1,2
SHARED_DATA := ../shared/data

# The versions `make lock` pins torch to (the newest this project's tests ran on).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install lock train sweep report bench gpu-check test lint format strip-notebooks data clean

install: $(STAMP)

# Every dependency at the version and hashes requirements.lock records (pip checks each file's
# hash), then the project itself; re-runs only when the lock or pyproject.toml changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Refresh requirements.lock from pyproject.toml: the newest versions allowed (torch at
# TORCH_PINS), for Linux, macOS and Windows and every Python from 3.10, with hashes, by uv
# (the resolver only: pip stays the installer). Then `make install test` on the result.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	printf '%s\n' $(TORCH_PINS) > $(VENV)/torch-pins.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --extra inception --universal \
		--python-version 3.10 --generate-hashes --constraint $(VENV)/torch-pins.txt \
		--custom-compile-command 'make lock' -o requirements.lock

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

# Throughput of plain PyTorch vs Lightning vs the fast path for DCGAN and StyleGAN2, and the time
# of FID-MNIST on 10k samples; writes bench.json. `make bench ARGS="--quick --models dcgan"` for a
# run under a minute.
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
