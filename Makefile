# Two commands on a fresh machine (each creates .venv and installs on first use):
#   make run  [PRESET=smoke|cpu|paper] [RUN_DIR=runs/PRESET]   the study: notebooks 01 -> 04 via papermill (05: PRESET=results)
#   make test                                                   the test suite (what CI runs)
#   make mutate                                                 the mutation check (tests/mutations.py)
#   make e2e                                                    the browser check of JupyterLab (CI runs it too)
#   make lab                                                    JupyterLab on the project
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PRESET  ?= smoke
RUN_DIR ?= runs/$(PRESET)
SHARED_CIFAR := ../shared/data/cifar10-jpeg.tar.gz

.PHONY: run test e2e lab data figures figures-results bench mutate clean-venv

$(BIN)/.installed: requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# Link the offline CIFAR-10 JPEG copy into data/ (ignored by git) when it is beside the checkout.
data:
	@mkdir -p data
	@if [ -f $(SHARED_CIFAR) ] && [ ! -e data/cifar10-jpeg.tar.gz ]; then \
		ln -s ../$(SHARED_CIFAR) data/cifar10-jpeg.tar.gz && echo "linked $(SHARED_CIFAR) -> data/"; fi
	@ls data/cifar10-jpeg.tar.gz >/dev/null 2>&1 || ls data/cifar-10-batches-py >/dev/null 2>&1 || \
		echo "note: no CIFAR-10 under data/; dataset=auto will download it (needs internet; see README, Data)"

run: $(BIN)/.installed data
	$(BIN)/python -m vggdarts notebooks --preset $(PRESET) --run-dir $(RUN_DIR)

# The suite, then every notebook as committed (its cheap default parameters) under nbval.
test: $(BIN)/.installed data
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests
	$(BIN)/python -m pytest -q --nbval-lax notebooks/

# A real browser (Debian's chromium + chromedriver, installed here if missing; apt-get needs root) opens
# notebook 02 in a running JupyterLab, runs it, moves the explorer's epoch slider, checks the heatmap changed.
e2e: $(BIN)/.installed data
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)
	cd tests && ../$(BIN)/python e2e_lab.py --run-dir results/search-cpu --screenshot ../runs/e2e/lab-explorer.png

# JupyterLab on the project with its venv's kernel (open the URL it prints; notebooks/ holds the study)
lab: $(BIN)/.installed data
	$(BIN)/python -m jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root,)

# The mutation check: plausible wrong versions of the code, each of which some test must fail on (a few minutes)
mutate: $(BIN)/.installed data
	$(BIN)/python tests/mutations.py

# Redraw every committed figure from the records (what the figure-currency test compares against figures/)
figures-results: $(BIN)/.installed data
	rm -rf runs/figures-results
	$(BIN)/python -m vggdarts notebooks --preset results --run-dir runs/figures-results
	rm -f figures/*.png figures/*.pdf
	cp runs/figures-results/figures/*.png runs/figures-results/figures/*.pdf runs/figures-results/figures/figures.json figures/

# Render a finished `make run` (search + comparison) into figures/, e.g. make figures PRESET=cpu
figures: $(BIN)/.installed
	$(BIN)/python -m vggdarts figures --run-dir $(RUN_DIR) --compare-dir $(RUN_DIR)/compare --out figures

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_search.py --width 1 --out benchmarks/results/cpu-width1.json
	$(BIN)/python benchmarks/bench_search.py --width 0.25 --out benchmarks/results/cpu-width0.25.json

clean-venv:
	rm -rf $(VENV)
