#!/usr/bin/env bash
# The newcomer's two commands, each installing what it needs first (on Debian 12; what is
# already installed is skipped):
#
#   ./gateway.sh serve [cdse-gateway serve options]   the gateway on the embedded sample data
#   ./gateway.sh test  [pytest options]               lint, type check and the whole test suite
#
# `serve` needs a Python 3.12 (PATH, pyenv, or PYTHON=/path/to/python3.12) and makes `.venv`
# with the package. `test` also installs, as root through apt, what the tests talk to
# (redis-server, PostgreSQL 15 + PostGIS, gdal-bin, chromium), the test extras, and the STAC API
# stand-in in `.venv-stac`.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
  serve)
    bash scripts/setup-gateway.sh
    exec .venv/bin/cdse-gateway serve "$@"
    ;;
  test)
    # The .venv first: the session's sample archive (a fresh one, removed at the end, unless
    # GATEWAY_TEST_SAMPLE_DIR names a folder to reuse) is written while the rest of the
    # set-up, ruff and mypy run.
    EXTRAS=test bash scripts/setup-gateway.sh
    fresh=
    if [ -z "${GATEWAY_TEST_SAMPLE_DIR:-}" ]; then
      fresh=$(mktemp -d "${TMPDIR:-/tmp}/gateway-test-sample.XXXXXX")
      export GATEWAY_TEST_SAMPLE_DIR=$fresh
    fi
    # in a process group of its own: a failed step stops the writer and its workers
    setsid .venv/bin/python -m tests.support.sample_dir "$GATEWAY_TEST_SAMPLE_DIR" &
    sample=$!
    trap '{ kill -- -"$sample" && wait "$sample"; } 2>/dev/null || true
          [ -z "$fresh" ] || rm -rf "$fresh"' EXIT
    bash scripts/setup-tests.sh
    .venv/bin/ruff check .
    .venv/bin/python -m mypy  # files and options: pyproject.toml [tool.mypy]
    wait "$sample"
    .venv/bin/python -m pytest -q "$@"
    ;;
  *) usage ;;
esac
