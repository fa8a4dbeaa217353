"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/kubernetes/) say what they mean.

Offline: the Kubernetes manifests are validated against the Kubernetes API's own schemas
(kubernetes-validate, strict: no unknown field) for one fixed version; the compose file and the
Dask chart's values are read as YAML and checked against the gateway's settings and image.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from gateway.settings import Settings

kubernetes_validate = pytest.importorskip("kubernetes_validate.utils")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.33"
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "dask-values.yaml")
# Variables the gateway's processes read that are not settings.
NOT_SETTINGS = {"PROMETHEUS_MULTIPROC_DIR"}
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|ACCESS_KEY|TOKEN", re.IGNORECASE)
SCHEDULER = re.compile(r"tcp://(?P<host>[\w-]+):(?P<port>\d+)")


def setting_variables() -> set[str]:
    """Every environment variable name a Settings field is read from."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"GATEWAY_{name.upper()}")
    return names


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def instruction(name: str) -> list[str]:
    return [args for op, args in dockerfile() if op == name]


def check_gateway_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable is one the gateway reads, and Settings accepts every value."""
    unknown = set(env) - setting_variables() - NOT_SETTINGS
    assert not unknown, f"not gateway settings: {sorted(unknown)}"
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"GATEWAY_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Settings()


# -- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_builds_the_package_on_python_312_slim() -> None:
    assert instruction("FROM") == ["python:3.12-slim"]
    install = re.compile(r"pip install (--no-cache-dir )?\.(\s|$)")
    assert any(install.search(run) for run in instruction("RUN"))


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    (user,) = instruction("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so runAsNonRoot can check it"
    assert not gid or int(gid) > 0
    assert f"--uid {uid}" in " ".join(instruction("RUN"))


def test_dockerfile_serves_on_its_exposed_port_with_a_healthz_check() -> None:
    (port,) = instruction("EXPOSE")
    (healthcheck,) = instruction("HEALTHCHECK")
    assert f"127.0.0.1:{port}/healthz" in healthcheck
    (cmd,) = instruction("CMD")
    command = yaml.safe_load(cmd)
    assert command[:2] == ["cdse-gateway", "serve"]
    assert command[command.index("--port") + 1] == port


def test_dockerfile_has_the_commands_the_dask_chart_runs() -> None:
    run = " ".join(instruction("RUN"))
    for command in ("dask-scheduler", "dask-worker"):
        assert f"exec dask {command.split('-')[1]} " in run
        assert f"/usr/local/bin/{command}" in run


# -- compose -----------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_services_and_the_stac_profile() -> None:
    services = compose()["services"]
    always = {name for name, service in services.items() if not service.get("profiles")}
    assert always == {"gateway", "redis", "dask-scheduler", "dask-worker"}
    stac = {name for name, service in services.items() if "stac" in service.get("profiles", [])}
    assert stac == {"postgres", "stac-api"}


def test_compose_gateway_settings_are_real(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    env = services["gateway"]["environment"]
    check_gateway_environment(env, monkeypatch)
    assert env["GATEWAY_REDIS_URL"].startswith("redis://redis:6379")
    scheduler = SCHEDULER.fullmatch(env["GATEWAY_DASK_SCHEDULER"])
    assert scheduler and scheduler["host"] in services
    command = services[scheduler["host"]]["command"]
    assert command[:4] == ["dask", "scheduler", "--port", scheduler["port"]]
    assert env["GATEWAY_DASK_SCHEDULER"] in services["dask-worker"]["command"]
    assert env["PROMETHEUS_MULTIPROC_DIR"] in services["gateway"]["tmpfs"]


def test_compose_dask_runs_the_gateway_image_without_its_http_healthcheck() -> None:
    services = compose()["services"]
    for name in ("dask-scheduler", "dask-worker"):
        assert services[name]["build"] == services["gateway"]["build"] == ".."
        assert services[name]["image"] == services["gateway"]["image"]
        assert services[name]["healthcheck"] == {"disable": True}
    assert (DEPLOY / services["gateway"]["build"] / "Dockerfile").is_file()


def dask_cli(command: list[str]) -> dict[str, Any]:
    """The options distributed's own ``dask scheduler`` / ``dask worker`` read from a command
    line (``dask-scheduler`` / ``dask-worker`` are the image's shims for them)."""
    from distributed.cli.dask_scheduler import main as scheduler
    from distributed.cli.dask_worker import main as worker

    if command[0] == "dask":
        command = [f"dask-{command[1]}", *command[2:]]
    cli = {"dask-scheduler": scheduler, "dask-worker": worker}[command[0]]
    return dict(cli.make_context(command[0], command[1:]).params)


def test_compose_dask_commands_parse() -> None:
    services = compose()["services"]
    assert dask_cli(services["dask-scheduler"]["command"])["port"] == "8786"
    worker = dask_cli(services["dask-worker"]["command"])
    assert worker["scheduler"] == services["gateway"]["environment"]["GATEWAY_DASK_SCHEDULER"]
    assert worker["nthreads"] == 2


def test_compose_inlines_no_secret() -> None:
    for name, service in compose()["services"].items():
        env = service.get("environment", {})
        inlined = [key for key in env if SECRET_NAMES.search(key) and not key.endswith("_FILE")]
        assert not inlined, f"{name}: {inlined}"
    assert compose()["secrets"]["pgstac-password"] == {"environment": "PGSTAC_PASSWORD"}


# -- Kubernetes --------------------------------------------------------------------------------


def resources() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in load_all(path)]


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def gateway_container() -> dict[str, Any]:
    (container,) = named("Deployment", "gateway")["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize(
    "resource",
    resources(),
    ids=lambda r: f"{r['kind']}/{r['metadata']['name']}",
)
def test_manifest_is_valid_kubernetes(resource: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{'.'.join(map(str, error.path))}: {error.message}")


def test_manifests_hold_the_gateway_redis_and_no_secret() -> None:
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources()}
    for kind in ("ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"):
        assert (kind, "gateway" if kind != "ConfigMap" else "gateway-config") in kinds
    assert ("PodDisruptionBudget", "gateway") in kinds
    assert {("Deployment", "redis"), ("Service", "redis")} <= kinds
    assert not [k for k in kinds if k[0] == "Secret"], "the keys are made by hand, not kept here"


def test_gateway_probes_and_scrape_annotation() -> None:
    container = gateway_container()
    port = container["ports"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    annotations = named("Deployment", "gateway")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    args = container["args"]
    assert args[args.index("--port") + 1] == str(port["containerPort"])
    assert {"requests", "limits"} <= set(container["resources"])


def test_gateway_environment_is_settings_with_keys_from_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = gateway_container()
    (source,) = container["envFrom"]
    config = named("ConfigMap", source["configMapRef"]["name"])["data"]
    assert not [key for key in config if SECRET_NAMES.search(key)], "keys belong in a Secret"
    env = dict(config)
    for variable in container["env"]:
        assert set(variable) == {"name", "valueFrom"}, f"{variable['name']} inlined"
        assert "secretKeyRef" in variable["valueFrom"]
        env[variable["name"]] = "from-a-secret"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    check_gateway_environment(env, monkeypatch)
    metrics = config["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics in {mount["mountPath"] for mount in container["volumeMounts"]}


def test_services_autoscaler_and_budget_select_their_pods() -> None:
    for name in ("gateway", "redis"):
        labels = named("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert named("Service", name)["spec"]["selector"].items() <= labels.items()
    gateway = named("Deployment", "gateway")
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    budget = named("PodDisruptionBudget", "gateway")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    autoscaler = named("HorizontalPodAutoscaler", "gateway")["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": gateway["apiVersion"],
        "kind": "Deployment",
        "name": "gateway",
    }
    assert budget["minAvailable"] < autoscaler["minReplicas"]
    redis_url = named("ConfigMap", "gateway-config")["data"]["GATEWAY_REDIS_URL"]
    (port,) = named("Service", "redis")["spec"]["ports"]
    assert redis_url.startswith(f"redis://redis:{port['port']}/")


def index_job() -> dict[str, Any]:
    """The pod of the CronJob that indexes new products."""
    return named("CronJob", "index-new-products")["spec"]["jobTemplate"]["spec"]["template"]


def test_pods_run_as_the_images_user() -> None:
    uid, _, _ = instruction("USER")[0].partition(":")
    for pod in (named("Deployment", "gateway")["spec"]["template"], index_job()):
        context = pod["spec"]["securityContext"]
        assert context["runAsNonRoot"] and context["runAsUser"] == int(uid)


def test_the_index_job_runs_the_index_command_with_the_gateways_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its arguments are those ``cdse-gateway index`` takes (parsed, not run), and its
    environment the gateway's: the same ConfigMap (Redis, where the servers find the
    indexes) and the eodata keys from the same Secret."""
    import typer.main

    from gateway.cli import app

    (container,) = index_job()["spec"]["containers"]
    program, command, *args = container["args"]
    assert (program, command) == ("cdse-gateway", "index")
    index = typer.main.get_command(app).commands["index"]  # type: ignore[attr-defined]
    options = index.make_context("index", list(args)).params
    assert options["collection"] == "sentinel-2-l2a" and options["days"] >= 1
    assert container["image"] == gateway_container()["image"]
    assert container["envFrom"] == gateway_container()["envFrom"]
    keys = {v["name"]: v["valueFrom"] for v in gateway_container()["env"]}
    for variable in container["env"]:
        assert keys[variable["name"]] == variable["valueFrom"], variable["name"]
    config = named("ConfigMap", "gateway-config")["data"]
    assert config["GATEWAY_REDIS_URL"]
    env = {**config, **{v["name"]: "from-a-secret" for v in container["env"]}}
    check_gateway_environment(env, monkeypatch)
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/data", "/tmp"} <= mounts and container["securityContext"]["readOnlyRootFilesystem"]


# -- Dask (the Dask project's Helm chart) ------------------------------------------------------


def dask_values() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "dask-values.yaml").read_text())


def test_dask_chart_runs_the_gateway_image_where_the_gateway_looks() -> None:
    values = dask_values()
    image = gateway_container()["image"]
    for part in ("scheduler", "worker"):
        assert f"{values[part]['image']['repository']}:{values[part]['image']['tag']}" == image
    assert values["jupyter"] == {"enabled": False}
    assert values["scheduler"]["serviceType"] == "ClusterIP"
    # Release "dask" of chart "dask": the chart names the scheduler's Service dask-scheduler.
    assert "helm install dask dask/dask" in (KUBERNETES / "dask-values.yaml").read_text()
    address = named("ConfigMap", "gateway-config")["data"]["GATEWAY_DASK_SCHEDULER"]
    assert address == f"tcp://dask-scheduler:{values['scheduler']['servicePort']}"
    assert values["worker"]["image"]["dask_worker"] == "dask-worker"


@pytest.mark.parametrize("part", ["scheduler", "worker"])
def test_dask_values_make_valid_pods(part: str) -> None:
    """The values the chart copies into its Deployments, as the chart places them."""
    values = dask_values()[part]
    image = values["image"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"dask-{part}"},
        "spec": {
            "replicas": values.get("replicas", 1),
            "selector": {"matchLabels": {"component": part}},
            "template": {
                "metadata": {"labels": {"component": part}},
                "spec": {
                    "securityContext": values["securityContext"],
                    "containers": [
                        {
                            "name": f"dask-{part}",
                            "image": f"{image['repository']}:{image['tag']}",
                            "args": shlex.split(image.get("dask_worker", "dask-scheduler")),
                            "resources": values["resources"],
                            "env": values.get("env") or [],
                        }
                    ],
                },
            },
        },
    }
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_readme_shows_the_compose_command() -> None:
    assert "docker compose -f deploy/compose.yaml up" in (ROOT / "README.md").read_text()


def test_dask_chart_commands_parse() -> None:
    """The command lines the chart's templates build from these values."""
    values = dask_values()
    scheduler = values["scheduler"]
    port = scheduler["servicePort"]
    assert dask_cli(["dask-scheduler", f"--port={port}", "--dashboard-address=:8787"])
    worker = values["worker"]
    limits = worker["resources"]["limits"]
    args = [worker["image"]["dask_worker"], f"dask-scheduler:{port}"]
    args += ["--nthreads", limits["cpu"], "--memory-limit", limits["memory"]]
    parsed = dask_cli([*args, "--no-dashboard", "--dashboard-address", "8790"])
    assert parsed["nthreads"] == int(limits["cpu"])
