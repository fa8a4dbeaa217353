"""The package's shape: no import cycles, every module inside ``gateway``, one registry of
runtimes for both frameworks' plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from fnmatch import fnmatchcase
from importlib.metadata import version
from pathlib import Path

import pytest

from gateway import registry

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def test_import_contracts_hold():
    """pyproject's import-linter contracts: no import cycle between the sibling packages and
    modules of any package, and nothing imports a top-level ``processes`` package. (In another
    process: import-linter configures logging, which disables the loggers of this one.)"""
    lint = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True, no_logo=True))"
    )
    # import-linter analyses the ``gateway`` importable from its working directory.
    done = subprocess.run(
        [sys.executable, "-c", lint], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "Analyzed" in done.stdout and "2 kept, 0 broken" in done.stdout, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["pygeoapi", "pygeofilter", "mapproxy"])
def test_the_frameworks_the_compat_modules_patch_are_pinned_and_installed(name):
    """The _compat modules are written for one version of each framework: pyproject pins it
    and the environment holds that version."""
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = dict(d.lower().split("==") for d in dependencies if "==" in d)
    assert version(name) == pins[name]


def test_the_distribution_ships_gateway_packages_only():
    """What pyproject's package discovery ships (setuptools matches the dotted names of the
    folders with an ``__init__.py`` against ``include``): ``gateway`` and its subpackages, no
    other top-level package, a name another project's distribution could also install."""
    found = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]["find"]
    folders = (p.parent.relative_to(ROOT) for p in ROOT.glob("[!.]*/**/__init__.py"))
    names = {".".join(folder.parts) for folder in folders}
    packages = {n for n in names if any(fnmatchcase(n, i) for i in found["include"])}
    assert "gateway.processes" in packages
    assert {name.partition(".")[0] for name in packages} == {"gateway"}
    assert not (ROOT / "processes").exists()


@pytest.fixture
def runtime_key(runtime):
    key = registry.register(runtime)
    yield key
    registry.unregister(key)


def test_pygeoapi_plugins_find_their_runtime_in_the_registry(runtime, runtime_key, tmp_path):
    """Every definition of the generated pygeoapi configuration carries the key, and what
    pygeoapi builds from it (providers, processors, the manager) holds the runtime."""
    from pygeoapi.plugin import load_plugin

    from gateway.ogcapi.config import build_config

    config = build_config(
        runtime,
        base_url="http://127.0.0.1/ogcapi",
        output_dir=str(tmp_path),
        runtime_key=runtime_key,
    )
    resources = config["resources"].values()
    providers = [p for r in resources for p in r.get("providers", [])]
    processors = [r["processor"] for r in resources if "processor" in r]
    definitions = [*providers, *processors, config["server"]["manager"]]
    assert providers and processors
    assert {d[registry.KEY] for d in definitions} == {runtime_key}
    assert load_plugin("provider", providers[0]).runtime is runtime
    assert load_plugin("process", processors[0]).runtime is runtime
    assert registry.runtime_for(config["server"]["manager"]) is runtime


def test_mapproxy_sources_find_their_runtime_in_the_registry(runtime, runtime_key, tmp_path):
    """The generated MapProxy sources carry the same key; MapProxy builds them with it."""
    from gateway.ows.mapproxy.app import build_mapproxy
    from gateway.ows.mapproxy.config import mapproxy_config

    conf = mapproxy_config(runtime, runtime_key, base_dir=str(tmp_path))
    assert {s[registry.KEY] for s in conf["sources"].values()} == {runtime_key}
    _, proxy = build_mapproxy(conf, str(tmp_path))
    name = next(iter(conf["sources"]))
    assert proxy.sources[name].source().runtime is runtime


def test_an_unknown_key_is_a_lookup_error():
    with pytest.raises(LookupError):
        registry.runtime_for({registry.KEY: "no-such-key"})
    with pytest.raises(LookupError):
        registry.runtime_for({})


def test_the_framework_registries_are_gone():
    """One registry: neither door keeps its own."""
    for name in ("gateway.ogcapi.registry", "gateway.ows.mapproxy.registry"):
        assert not (ROOT / (name.replace(".", os.sep) + ".py")).exists(), name
