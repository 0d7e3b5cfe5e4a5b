# The single source of commands. `make run` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck contracts unit bench bench-kafka demo fmt up down clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## start the embedded service on 127.0.0.1:8000 (SQLite by default)
	$(BIN)/provenance serve

test: lint typecheck contracts unit  ## the whole suite

lint: $(STAMP)
	$(BIN)/ruff check provenance api streams cli tests bench
	$(BIN)/ruff format --check provenance api streams cli tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)  ## throughput and latency figures (not a test)
	$(BIN)/python bench/ingest.py

bench-kafka: $(STAMP)  ## events/s through Kafka (1 and 2 workers) vs embedded vs bare faust
	$(BIN)/python bench/kafka.py

up:  ## the distributed mode: Kafka (KRaft), PostgreSQL, 2 API replicas, a worker, a registry
	docker compose up --build

down:
	docker compose down

demo: $(STAMP)
	$(BIN)/provenance demo

fmt: $(STAMP)
	$(BIN)/ruff format provenance api streams cli tests bench
	$(BIN)/ruff check --fix provenance api streams cli tests bench

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache .pytest_cache
