# The two quick-start commands: `make run` and `make test`. Both set up what they need first.
.PHONY: setup services run test lint bench bench-deps

setup:
	@bash scripts/setup.sh

services:
	@bash scripts/setup.sh --services

# the main job: the README's street scenario with its report, then the example city settled on the
# embedded chain, metered and delivered, then the store verified against the chain
run: setup
	.venv/bin/gridledger simulate examples/street.toml
	.venv/bin/gridledger simulate --settle
	.venv/bin/gridledger verify

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy
	.venv/bin/lint-imports

# the servers the tests start are installed by `services`: a missing one fails the run, never skips
test: services lint
	GRIDLEDGER_REQUIRE_PG=1 GRIDLEDGER_REQUIRE_MQTT=1 GRIDLEDGER_REQUIRE_ANVIL=1 GRIDLEDGER_REQUIRE_CHROMIUM=1 \
		GRIDLEDGER_REQUIRE_OPENADR_CLIENT=1 \
		.venv/bin/python -m pytest -q $(PYTEST_ARGS)

# pymarket (the clearing benchmark's baseline) needs pandas < 3, so it gets its own venv
bench-deps:
	test -x .venv-pymarket/bin/python || python3 -m venv .venv-pymarket
	.venv-pymarket/bin/python -m pip install -q pymarket 'pandas<3'

bench: setup
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b --quick || exit 1; done
