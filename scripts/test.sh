#!/usr/bin/env bash
# The whole test command: install, lint, type-check, then the suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

bash scripts/services.sh

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest (SQLite and PostgreSQL)"
.venv/bin/python -m pytest -p no:cacheprovider "$@"
echo "== benchmarks (smoke)"
.venv/bin/python bench/token_algorithms.py --seconds 0.2
