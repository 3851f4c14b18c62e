.PHONY: help run test test-full lint fmt migrate revision bench

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run:  ## install and serve with demo data (SQLite, no Stripe key, no network)
	python3 -m venv .venv && .venv/bin/pip install -e . -e ./devstripe && .venv/bin/entitlements demo run

test:  ## the whole suite on SQLite and PostgreSQL, with ruff and mypy
	bash scripts/test.sh

test-full:  ## as test, with twenty times the property-test examples (Hypothesis profile full)
	HYPOTHESIS_PROFILE=full bash scripts/test.sh

lint:  ## ruff and mypy
	.venv/bin/ruff check . && .venv/bin/mypy

fmt:  ## format and fix imports
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

migrate:  ## migrate the configured database to head
	.venv/bin/entitlements db upgrade

revision:  ## autogenerate a migration: make revision m="what changed"
	.venv/bin/python -c "from alembic import command; from entitlements.migrate import alembic_config; from entitlements.config import load_config; command.revision(alembic_config(load_config().database_url), message='$(m)', autogenerate=True)"

bench:  ## benchmarks against a same-run baseline
	.venv/bin/python bench/token_algorithms.py && .venv/bin/python bench/http_api.py && .venv/bin/python bench/grandfather_import.py && .venv/bin/python bench/webhooks.py && .venv/bin/python bench/cli_startup.py && .venv/bin/python bench/sdk_verify.py && .venv/bin/python bench/event_delivery.py
