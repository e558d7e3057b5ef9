# benpipe: the two commands of README.md, plus their building blocks.
#   make demo   install what is missing, build the demo world, run the pipeline
#   make test   install what is missing, run every quality gate and the test suite
SHELL := /bin/bash
VENV ?= .venv

.PHONY: setup demo test lint clean help

help:
	@echo "make demo   - set up, build the demo world and run the whole pipeline"
	@echo "make test   - set up and run lint, dry run and the test suite"
	@echo "make setup  - install system packages and the Python environment (idempotent)"
	@echo "make lint   - ruff, snakefmt, snakemake --lint only"
	@echo "make clean  - remove results/, resources/, logs/, benchmarks/, .snakemake/"

setup:
	@VENV=$(VENV) bash tools/setup.sh

demo: setup
	@VENV=$(VENV) bash tools/demo.sh

test: setup
	@VENV=$(VENV) bash tools/test.sh

lint: setup
	@VENV=$(VENV) LINT_ONLY=1 bash tools/test.sh

clean:
	rm -rf results resources logs benchmarks .snakemake
