# The two commands: `make lab` (JupyterLab on the notebooks) and `make test`
# (every test: unit, kernel, differential, notebooks). Both set up first.
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: setup lab test fixtures bench clean

setup:
	@bash scripts/setup.sh

lab: setup
	$(VENV)/jupyter lab --notebook-dir=notebooks --allow-root notebooks/00-tour.ipynb

test: setup
	$(VENV)/pytest tests notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg $(PYTEST_ARGS)

fixtures:
	$(MAKE) -C tests/bpf

bench: setup
	$(VENV)/python benchmarks/run_all.py

clean:
	$(MAKE) -C tests/bpf clean

# Fuzz campaign (tools/fuzz.py): every parser and a privileged load, in worker processes.
MINUTES ?= 1
.PHONY: fuzz
fuzz: setup
	$(VENV)/python tools/fuzz.py --minutes $(MINUTES)
