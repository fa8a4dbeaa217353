#!/usr/bin/env bash
# What the tests need, on Debian 12: the gateway's `.venv` with the test extras, the servers and
# clients the tests talk to (apt, as root or through sudo), and the STAC API stand-in in its own
# `.venv-stac`. Skips every step that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# redis-server: the tile cache and job store tests run a real one.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# gdal-bin: ogrinfo's OAPIF and WFS drivers are real OGC clients in the tests.
command -v ogrinfo >/dev/null 2>&1 || need_apt+=(gdal-bin)
# chromium: the viewer test drives Debian's browser through Playwright (never a downloaded one).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# the JavaScript reference the evalscript tests compare the translator with
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
# PostgreSQL 15 + PostGIS: the private cluster behind the STAC API stand-in (tests/support/stac_api.py).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need_apt+=(postgresql-15-postgis-3)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

EXTRAS=test bash scripts/setup-gateway.sh

# The STAC API stand-in (stac-fastapi-pgstac, pypgstac) in its own venv, apart from the project's.
[ -x .venv-stac/bin/python ] || .venv/bin/python -m venv .venv-stac
[ -x .venv-stac/bin/pypgstac ] && [ -x .venv-stac/bin/uvicorn ] ||
  .venv-stac/bin/python -m pip install -q 'pypgstac[psycopg]==0.10.0' 'stac-fastapi-pgstac==7.2.0' uvicorn
