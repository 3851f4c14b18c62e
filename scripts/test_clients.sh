#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."

# Python SDK (clients/python): installed editable into the checkout's .venv with its test extra
# (the main suite's tests/e2e/test_client_python.py imports it too, so this runs before pytest),
# then its lint, strict types and own suite (forged tokens, JWKS cache, retries, events against
# the `standardwebhooks` reference, the README example, a fresh-virtualenv install).
.venv/bin/python -m pip install --quiet -e './clients/python[test]'
.venv/bin/ruff check clients/python
(cd clients/python && ../../.venv/bin/mypy && ../../.venv/bin/mypy tests)
(cd clients/python && ../../.venv/bin/python -m pytest -p no:cacheprovider)

# Node SDK (clients/node): install from the committed lockfile, then its node --test suite.
(cd clients/node && npm ci --no-audit --no-fund && npm test)
