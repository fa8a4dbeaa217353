"""A real STAC API stand-in: stac-fastapi-pgstac on a private PostgreSQL 15 + PostGIS cluster.

``start_stac_api(stac_dir)`` runs ``initdb`` in a scratch folder (as user ``postgres``, on a
free port, never the machine's own cluster), installs pgstac with ``pypgstac migrate``, loads
the sample's collections and ``items.ndjson`` files, registers the ``eo:cloud_cover``
queryable and serves the API with uvicorn, behind a ``CountingProxy`` so tests can count
searches. stac-fastapi-pgstac and pypgstac live in their own venv (``.venv-stac``, made by
``.ci/run``) so they do not disturb the project's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.counting_proxy import CountingProxy
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("GATEWAY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
STAC_VENV = Path(os.environ.get("GATEWAY_TEST_STAC_VENV", REPO / ".venv-stac"))
# After ``pypgstac migrate``: sort ``eo:cloud_cover`` as a number, count matches (numberMatched).
SETTINGS_SQL = (
    "INSERT INTO pgstac.queryables(name, definition, property_wrapper, property_index_type)"
    " VALUES ('eo:cloud_cover', '{\"type\": \"number\"}', 'to_float', 'BTREE');"
    " UPDATE pgstac.pgstac_settings SET value = 'on' WHERE name = 'context';"
)


@dataclass
class StacApi:
    """A running stac-fastapi-pgstac with its own database cluster."""

    scratch: Path
    pg_port: int
    api: subprocess.Popen
    proxy: CountingProxy
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        """The API's root, through the counting proxy."""
        return f"http://{self.proxy.address}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:{self.env['PGPASSWORD']}@127.0.0.1:{self.pg_port}/pgstac"

    def load(self, kind: str, ndjson: Path) -> None:
        """Add ``collections`` or ``items`` from an ndjson file (``pypgstac load``)."""
        _pypgstac_load(kind, ndjson, self.dsn, self.env)
        self._psql("")  # counts made before no longer hold

    def delete_collection(self, collection: str) -> None:
        """Remove a collection and its items."""
        if not re.fullmatch(r"[\w-]+", collection):
            raise ValueError("a collection id of letters, digits, _ and -")
        self._psql(f"SELECT delete_collection('{collection}');")

    def delete_items(self, collection: str, ids: list[str]) -> None:
        """Remove items of a collection."""
        names = [collection, *ids]
        if not all(re.fullmatch(r"[\w-]+", name) for name in names):
            raise ValueError("ids of letters, digits, _ and -")
        self._psql(" ".join(f"SELECT delete_item('{i}', '{collection}');" for i in ids))

    def _psql(self, statements: str) -> None:
        """``statements`` on the API's database, then its remembered counts forgotten: pgstac
        keeps a search's ``numberMatched`` (``search_wheres``) for a day, so a count made while
        a test's items were there would outlive them."""
        forget = " DELETE FROM search_wheres;"
        command = [str(PG_BIN / "psql"), "-q", "-c", statements + forget]
        _run(command, {**self.env, "PGOPTIONS": "-c search_path=pgstac,public"})

    def searches(self) -> int:
        """``/search`` requests (first pages and ``next`` pages) since the proxy's last reset."""
        return sum(1 for hit in self.proxy.hits() if hit.path.rstrip("/").endswith("/search"))

    def stop(self) -> None:
        self.proxy.stop()
        _terminate(self.api)
        _pg_ctl(self.scratch, "stop", "-m", "immediate", check=False)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _as_postgres(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(a) for a in args]
    if os.geteuid() == 0:  # initdb refuses root
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=check, capture_output=True, text=True)


def _pg_ctl(scratch: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _as_postgres(PG_BIN / "pg_ctl", "-D", scratch / "pg", *args, check=check)


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr[-2000:]}")


def _make_cluster(scratch: Path, port: int, password: str) -> None:
    for sub in ("pg", "run"):
        (scratch / sub).mkdir()
    pwfile = scratch / ".pgpw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        for path in (scratch, scratch / "pg", scratch / "run", pwfile):
            shutil.chown(path, "postgres", "postgres")
    scratch.chmod(0o755)
    _as_postgres(
        PG_BIN / "initdb",
        "-D",
        scratch / "pg",
        "-U",
        "postgres",
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
    )
    options = f"-p {port} -k {scratch / 'run'} -c listen_addresses=127.0.0.1 -c fsync=off"
    _pg_ctl(scratch, "-l", str(scratch / "run" / "pg.log"), "-w", "start", "-o", options)


def _ndjson(paths: list[Path], target: Path) -> Path:
    with target.open("w") as out:
        for path in paths:
            text = path.read_text()
            if path.suffix == ".json":
                out.write(json.dumps(json.loads(text)) + "\n")
            else:
                out.write(text if text.endswith("\n") else text + "\n")
    return target


def _load(stac_dir: Path, scratch: Path, env: dict[str, str], dsn: str) -> None:
    pypgstac = str(STAC_VENV / "bin" / "pypgstac")
    psql = str(PG_BIN / "psql")
    _run([str(PG_BIN / "createdb"), "pgstac"], env)
    _run([psql, "-q", "-c", "CREATE EXTENSION postgis"], env)
    _run([pypgstac, "migrate", "--dsn", dsn], env)
    _run([psql, "-q", "-c", SETTINGS_SQL], {**env, "PGOPTIONS": "-c search_path=pgstac,public"})
    collections = sorted((stac_dir / "collections").glob("*/collection.json"))
    items = sorted((stac_dir / "collections").glob("*/items.ndjson"))
    loads = (
        ("collections", _ndjson(collections, scratch / "collections.ndjson")),
        ("items", _ndjson(items, scratch / "items.ndjson")),
    )
    for kind, path in loads:
        _pypgstac_load(kind, path, dsn, env)


def _pypgstac_load(kind: str, path: Path, dsn: str, env: dict[str, str]) -> None:
    pypgstac = str(STAC_VENV / "bin" / "pypgstac")
    _run([pypgstac, "load", kind, str(path), "--dsn", dsn, "--method", "insert"], env)


def _wait_for_api(process: subprocess.Popen, url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the STAC API exited during start-up")
        try:
            with urllib.request.urlopen(url + "/_mgmt/ping", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError("the STAC API did not answer in time")


def start_stac_api(stac_dir: Path, *, transactions: bool = False) -> StacApi:
    """Start PostgreSQL + pgstac + stac-fastapi-pgstac loaded with ``stac_dir``'s catalog;
    ``transactions``: with the Transaction extension (POST, PUT, DELETE)."""
    for tool in (PG_BIN / "initdb", STAC_VENV / "bin" / "pypgstac", STAC_VENV / "bin" / "uvicorn"):
        if not tool.exists():
            raise RuntimeError(f"{tool} is missing: run .ci/run to install the STAC API stand-in")
    scratch = Path(tempfile.mkdtemp(prefix="gateway-stac-"))
    pg_port, api_port = free_port(), free_port()
    password = secrets.token_hex(8)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES"))},
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg_port),
        "PGUSER": "postgres",
        "PGPASSWORD": password,
        "PGDATABASE": "pgstac",
        "ENABLE_TRANSACTIONS_EXTENSIONS": "true" if transactions else "false",
    }
    dsn = f"postgresql://postgres:{password}@127.0.0.1:{pg_port}/pgstac"
    api: subprocess.Popen | None = None
    try:
        _make_cluster(scratch, pg_port, password)
        _load(stac_dir, scratch, env, dsn)
        with (scratch / "api.log").open("wb") as log:
            api = subprocess.Popen(
                [
                    str(STAC_VENV / "bin" / "uvicorn"),
                    "--factory",
                    "stac_fastapi.pgstac.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(api_port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_for_api(api, f"http://127.0.0.1:{api_port}")
        proxy = CountingProxy(("127.0.0.1", api_port)).start()
    except BaseException:
        if api is not None:
            _terminate(api)
        _pg_ctl(scratch, "stop", "-m", "immediate", check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return StacApi(scratch=scratch, pg_port=pg_port, api=api, proxy=proxy, env=env)
