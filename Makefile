# Lockstep — the commands a newcomer needs. See README.md.
.DEFAULT_GOAL := help
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
DEVICES ?= 20
MODE ?= single
SCENARIO ?= happy
PORT ?=

.PHONY: help install run demo bench test test-unit test-integration test-e2e test-faults test-js lint docs clean

help:
	@echo "make install      create .venv and install the workspace, compiled to bytecode once (needs uv)"
	@echo "make run          start Lockstep single-node (or distributed with LOCKSTEP_AMQP_URL + LOCKSTEP_DATABASE_URL)"
	@echo "make demo         the whole coordinated update, scripted (MODE=single|distributed DEVICES=N SCENARIO=happy PORT=8000: the admin API's port, else a free one)"
	@echo "make bench        server CPU per device against the floor, phase times, stop time without and with staging, timeline picture (BENCH_DEVICES=1000; BENCH=full adds 10,000 devices and 10,000 idle long-polls)"
	@echo "make test         everything CI runs (unit, integration on RabbitMQ + PostgreSQL, end to end)"
	@echo "make test-faults  the whole fault matrix: kills and broker/database restarts at every step of an update (1-2 h; make test runs 3 cells)"
	@echo "make test-js      the JavaScript device client's tests alone (node --test; a real Lockstep)"
	@echo "make lint         ruff and the layer contracts (import-linter)"
	@echo "make docs         regenerate docs/asyncapi.yaml, the README's event table and docs/openapi/*.json from the code"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --all-packages --frozen --compile-bytecode

run:
	.venv/bin/lockstep-node

demo:
	.venv/bin/lockstep-demo --scenario $(SCENARIO) --mode $(MODE) --devices $(DEVICES) $(if $(PORT),--port $(PORT))

BENCH_DEVICES ?= 1000
BENCH ?= default
# One JSON line on stdout (progress on stderr) and bench/out/timeline.png; README "Speed".
bench:
	.venv/bin/lockstep-bench --devices $(BENCH_DEVICES) --out bench/out $(if $(filter full,$(BENCH)),--full,)

test:
	$(PYTEST) tests -q

test-unit:
	$(PYTEST) tests/unit -q

test-integration:
	$(PYTEST) tests/integration -q

test-e2e:
	$(PYTEST) tests/e2e -q

# The step x fault matrix of tests/faults (own RabbitMQ node and PostgreSQL cluster on free
# ports); `make test` runs its representative subset. The matrix is printed and written to
# var/faults/matrix.md.
test-faults:
	LOCKSTEP_FAULTS=all $(PYTEST) tests/faults -m faults -q

# `make test` runs these too, through tests/e2e/test_js_device_client.py
test-js:
	node --test clients/js/test

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports

docs:
	$(PY) -m lockstep_shared.event_docs
	$(PY) -m lockstep_tools.openapi_docs

clean:
	rm -rf var .pytest_cache
