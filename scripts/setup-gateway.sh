#!/usr/bin/env bash
# What the gateway needs to run: `.venv` (Python 3.12) with the package installed.
# Skips every step that is already done; EXTRAS=test adds the test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${EXTRAS:-}

is_py312() { "$@" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' >/dev/null 2>&1; }

find_python() {
  if [ -n "${PYTHON:-}" ] && is_py312 "$PYTHON"; then echo "$PYTHON"; return; fi
  local candidate
  if command -v pyenv >/dev/null 2>&1 &&
     candidate=$(PYENV_VERSION=3.12.1 pyenv which python 2>/dev/null) && is_py312 "$candidate"; then
    echo "$candidate"; return
  fi
  for candidate in python3.12 python3; do
    if is_py312 "$candidate"; then command -v "$candidate"; return; fi
  done
  # Debian 12 ships Python 3.11: uv (if installed) can provide a 3.12.
  if command -v uv >/dev/null 2>&1 && uv python install 3.12 >/dev/null 2>&1 &&
     candidate=$(uv python find 3.12) && is_py312 "$candidate"; then
    echo "$candidate"; return
  fi
  echo "Python 3.12 is required: set PYTHON=/path/to/python3.12, or install pyenv or uv" >&2
  exit 1
}

if [ ! -x .venv/bin/python ] || ! is_py312 .venv/bin/python; then
  rm -rf .venv
  "$(find_python)" -m venv .venv
fi

# The installed state is stamped with the pyproject.toml it came from and its extras; the same
# inputs (or a plain install where the extras are already in) install nothing.
stamp=.venv/.cdse-gateway-installed
project=$(sha256sum pyproject.toml | cut -c1-64)
installed=$(cat "$stamp" 2>/dev/null || true)
if [ "$installed" != "$project extras=$extras" ] &&
   { [ -n "$extras" ] || [ "${installed%% *}" != "$project" ]; }; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ -n "$extras" ]; then
    .venv/bin/python -m pip install -q -e ".[${extras}]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  echo "$project extras=$extras" > "$stamp"
fi
