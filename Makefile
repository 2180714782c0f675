# Smart Maintenance: `make demo` and `make test` are all a fresh machine needs (README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEMO_HOME ?= $(CURDIR)/data/demo
SM_HOME ?= $(CURDIR)/data
PYTEST_ARGS ?=

.PHONY: install demo test ui run lock clean-demo bench soak

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## demo: fresh sample plant in data/demo, the whole pipeline once, and where the outputs are.
demo: $(STAMP)
	rm -rf $(DEMO_HOME)
	$(BIN)/smart-maintenance simulate --home $(DEMO_HOME)
	$(BIN)/smart-maintenance run --home $(DEMO_HOME) --min-file-age 0
	@echo "Browse it in the Dagster UI: make ui SM_HOME=$(DEMO_HOME)"

## test: every test (unit, Dagster, end-to-end with a real daemon and PostgreSQL).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## ui: Dagster UI on 127.0.0.1:3000 with the daemon; sensors and automation run by default.
ui: $(STAMP)
	$(BIN)/smart-maintenance ui --home $(SM_HOME)

## run: one-shot run on SM_HOME (ingest landing/, bring every asset up to date).
run: $(STAMP)
	$(BIN)/smart-maintenance run --home $(SM_HOME)

## bench: the performance harness (issue 8): throughput vs the DuckDB floor, scaling, daemon latency,
## incremental cost, profile; writes BENCHMARKS.md and benchmarks/pipeline.json (about 9 minutes).
bench: $(STAMP)
	$(BIN)/python -m smart_maintenance.benchmarking.pipeline --out BENCHMARKS.md

## lock: re-resolve requirements.in into requirements.lock (pinned versions).
lock:
	rm -rf /tmp/sm-lock-venv && $(PYTHON) -m venv /tmp/sm-lock-venv
	/tmp/sm-lock-venv/bin/pip install -q -r requirements.in
	/tmp/sm-lock-venv/bin/pip freeze --exclude-editable > requirements.lock

## soak: 1,000 small files through the real daemon over ~10 minutes; checks nothing lost or doubled and
## that memory stays flat (RELIABILITY.md). Not part of `make test`.
soak: $(STAMP)
	$(BIN)/python -m smart_maintenance_tests.reliability.soak --files 1000 --every 0.5 --out data/soak-report.json

## cluster: the distributed deployment on this machine (deploy/celery/run-cluster.sh): PostgreSQL, Redis,
## 2 Celery workers, dagster-daemon and the UI on 127.0.0.1:3000 for SM_HOME; Ctrl-C stops them all.
.PHONY: cluster
cluster: $(STAMP)
	SM_HOME=$(SM_HOME) deploy/celery/run-cluster.sh
