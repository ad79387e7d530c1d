# The two quick-start commands: `make run` and `make test`. Both set up what they need first.
.PHONY: setup services run test lint bench

setup:
	@bash scripts/setup.sh

services:
	@bash scripts/setup.sh --services

run: setup
	.venv/bin/gridledger simulate

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy

test: services lint
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b --quick || exit 1; done
