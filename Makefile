# The two commands: `make lab` (JupyterLab on the notebooks) and `make test`
# (every test: unit, kernel, differential, notebooks). Both set up first.
VENV := .venv/bin
PYTEST_ARGS ?=
# Passed to jupyter lab, e.g. make lab LAB_ARGS="--port 8899 --ip 0.0.0.0 --no-browser"
LAB_ARGS ?=
# Replaces the matrix's default selection (-m 'kernel and not browser and not synthetic_kernel' tests), e.g. KERNEL_PYTEST_ARGS='-m kernel tests/test_loader.py'.
KERNEL_PYTEST_ARGS ?=

.PHONY: setup lab test test-kernels fixtures bench clean

setup:
	@bash scripts/setup.sh

lab: setup
	$(VENV)/python scripts/lab.py $(LAB_ARGS)

test: setup
	$(VENV)/pytest tests notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg $(PYTEST_ARGS)

# The kernel tests again inside VMs with Debian's 6.1 and 6.12 kernels (virtme-ng, TCG).
test-kernels: setup
	$(VENV)/python tools/kernel_matrix.py $$(bash scripts/setup-kernels.sh) $(if $(KERNEL_PYTEST_ARGS),-- $(KERNEL_PYTEST_ARGS))

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
