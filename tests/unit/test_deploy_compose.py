"""docker-compose.yml and the Dockerfile: valid, complete, and running the commands the tests run.

No Docker engine runs here, but `docker-compose config` (Debian's package) validates and resolves
the file without one. The secrets come from a test env file, as an operator's `.env` would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
SECRETS = (
    "POSTGRES_PASSWORD",
    "RUCNET_PSEUDONYM_SECRET",
    "GRAFANA_ADMIN_PASSWORD",
    "RUCNET_GRAFANA_DB_PASSWORD",
)
APP_SERVICES = ("intake", "classifier", "aggregator")
ONE_SHOTS = ("kafka-topics", "migrate")
ALL_PROFILES = ("kafka-cluster", "monitoring", "grafana")


def docker_compose_binary() -> str:
    """Debian's docker-compose, installed on first use when we may (root with apt)."""
    found = shutil.which("docker-compose")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("docker-compose is not installed and cannot be (needs root and apt-get)")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "docker-compose"],
        check=True,
        env=env,
        capture_output=True,
        timeout=900,
    )
    found = shutil.which("docker-compose")
    assert found, "apt-get installed docker-compose but it is not on PATH"
    return found


def test_env_file(directory: Path) -> Path:
    """`.env.example` with its secrets filled in, as an operator's first `.env`."""
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        name = line.split("=", 1)[0]
        secret = f"test-{name.lower().replace('_', '-')}-{'x' * 32}"  # secrets are at least 32 characters
        lines.append(f"{name}={secret}" if name in SECRETS else line)
    path = directory / "test.env"
    lines.append(f"RUCNET_ENV_FILE={path}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


test_env_file.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def compose(
    *args: str, env_file: Path | None, profiles: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = [docker_compose_binary(), "--project-directory", str(ROOT), "-f", str(COMPOSE)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    for profile in profiles:
        command += ["--profile", profile]
    # Only PATH from our environment: a developer's exported variables must not fill the secrets.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@cache
def resolved(profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The configuration as compose resolves it (variables filled, anchors merged)."""
    directory = Path(os.environ.get("TMPDIR", "/tmp")) / f"rucnet-compose-{os.getpid()}"
    directory.mkdir(exist_ok=True)
    result = compose("config", env_file=test_env_file(directory), profiles=profiles)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def dockerfile_cmds() -> dict[str, list[str]]:
    """The last CMD of each build stage, by stage name."""
    cmds: dict[str, list[str]] = {}
    stage = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE):
            stage = match.group(1)
        elif line.startswith("CMD "):
            cmds[stage] = yaml.safe_load(line.removeprefix("CMD "))
    return cmds


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, source, target) of each volume, in the long or the short syntax."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append((volume["type"], volume.get("source", ""), volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            found.append(("bind" if source.startswith(("/", ".")) else "volume", source, target))
    return found


def test_the_compose_file_validates_with_every_profile() -> None:
    default = {name for name, s in resolved()["services"].items() if not s.get("profiles")}
    assert default == {"kafka", "kafka-topics", "postgres", "migrate", *APP_SERVICES}
    profiled = {
        name: s["profiles"] for name, s in resolved(ALL_PROFILES)["services"].items() if s.get("profiles")
    }
    assert profiled == {
        "kafka-2": ["kafka-cluster"],
        "kafka-3": ["kafka-cluster"],
        "prometheus": ["monitoring"],
        "grafana": ["grafana"],  # no registry in CI: the rest must start without it
    }


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text(f"RUCNET_ENV_FILE={empty}\n", encoding="utf-8")
    result = compose("config", env_file=empty)
    assert result.returncode != 0
    assert "in .env" in result.stderr


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for secret in SECRETS:
        uses = re.findall(rf"\$\{{{secret}([^}}]*)\}}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret} must be required (${{{secret}:?...}})"
    for match in re.finditer(r"(?im)^\s*[\w.]*(password|secret)[\w.]*:\s*(.+)$", text):
        assert match.group(2).strip().startswith("${"), f"a literal secret: {match.group(0).strip()}"


def test_the_compose_file_references_only_files_that_exist() -> None:
    for name, service in resolved(ALL_PROFILES)["services"].items():
        build = service.get("build")
        if build:
            context = Path(build["context"])
            assert context.is_dir(), f"{name}: build context {context}"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: dockerfile"
        for kind, source, _target in mounts(service):
            if kind == "bind":
                assert Path(source).exists(), f"{name}: mounts {source}, which does not exist"
    for name, service in raw()["services"].items():
        for env_file in [service["env_file"]] if isinstance(service.get("env_file"), str) else []:
            assert env_file == "${RUCNET_ENV_FILE:-.env}", f"{name}: env_file {env_file}"
    assert (ROOT / ".env.example").is_file()


def test_grafana_is_provisioned_from_the_deploy_folder() -> None:
    grafana = resolved(("grafana",))["services"]["grafana"]
    binds = {target: Path(source) for kind, source, target in mounts(grafana) if kind == "bind"}
    assert binds["/etc/grafana/provisioning"] == ROOT / "deploy" / "grafana" / "provisioning"
    assert binds["/var/lib/grafana/dashboards"] == ROOT / "deploy" / "grafana" / "dashboards"


def test_prometheus_loads_the_alert_rules_from_the_deploy_folder() -> None:
    prometheus = resolved(ALL_PROFILES)["services"]["prometheus"]
    binds = {target: Path(source) for kind, source, target in mounts(prometheus) if kind == "bind"}
    assert binds["/etc/prometheus/rules"] == ROOT / "deploy" / "prometheus" / "rules"
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_published_ports_are_single_ports_podman_accepts(tmp_path: Path) -> None:
    """podman's API refuses a host-port range; scaling out leaves the host port to the engine."""
    for name, service in raw()["services"].items():
        for port in service.get("ports", []):
            assert not re.search(r"\d-\d", port), f"{name}: {port} is a range"
    env = test_env_file(tmp_path)
    env.write_text(env.read_text(encoding="utf-8") + "AGGREGATOR_HOST_PORT=\n", encoding="utf-8")
    result = compose("config", env_file=env)
    assert result.returncode == 0, result.stderr
    ports = yaml.safe_load(result.stdout)["services"]["aggregator"]["ports"]
    assert ports == ["127.0.0.1::8002/tcp"]  # any free host port, one per replica


def test_the_production_file_names_the_registry_images() -> None:
    """The deployment test maps these to stand-ins in an override; the file itself names them."""
    services = resolved(ALL_PROFILES)["services"]
    assert {
        name: services[name]["image"].rsplit(":", 1)[0]
        for name in ("kafka", "postgres", "grafana", "prometheus")
    } == {
        "kafka": "apache/kafka",
        "postgres": "postgres",
        "grafana": "grafana/grafana",
        "prometheus": "prom/prometheus",
    }
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    override = yaml.safe_load((ROOT / "deploy" / "test" / "compose.podman.yml").read_text(encoding="utf-8"))
    for name, service in override["services"].items():
        assert set(service) == {"image"}, f"the test override changes more than {name}'s image"


def test_every_service_has_a_health_check_a_restart_policy_and_limits() -> None:
    for name, service in resolved(ALL_PROFILES)["services"].items():
        assert "restart" in service, f"{name}: no restart policy"
        assert service["deploy"]["resources"]["limits"]["memory"], f"{name}: no memory limit"
        assert service["deploy"]["resources"]["limits"]["cpus"], f"{name}: no cpu limit"
        if name in ONE_SHOTS:
            assert service["restart"] == "no", f"{name}: a one-shot must not be restarted"
        else:
            assert service["healthcheck"]["test"], f"{name}: no health check"
            assert service["restart"] == "unless-stopped"


def test_services_start_only_after_what_they_need_is_ready() -> None:
    services = resolved()["services"]
    for name in APP_SERVICES:
        depends = {k: v["condition"] for k, v in services[name]["depends_on"].items()}
        assert depends == {
            "postgres": "service_healthy",
            "kafka": "service_healthy",
            "kafka-topics": "service_completed_successfully",
            "migrate": "service_completed_successfully",
        }
        assert "container_name" not in services[name], f"{name} must be scalable (no container_name)"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_the_services_talk_to_real_kafka_idempotently_and_log_json() -> None:
    services = resolved()["services"]
    for name in (*APP_SERVICES, "migrate"):
        env = services[name]["environment"]
        assert env["RUCNET_KAFKA_IDEMPOTENCE"] == "true", name
        assert env["RUCNET_HOST"] == "0.0.0.0", name
        assert env["RUCNET_LOG_FORMAT"] == "json", name
        assert env["RUCNET_DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert env["RUCNET_PSEUDONYM_SECRET"], name


def test_topic_creation_makes_every_topic_in_shared_topics_and_keeps_them() -> None:
    service = resolved()["services"]["kafka-topics"]
    assert service["environment"]["TOPICS"].split() == list(topics.ALL_TOPICS)
    script = (ROOT / "deploy" / "kafka" / "create-topics.sh").read_text(encoding="utf-8")
    assert "retention.ms=-1" in script
    assert "cleanup.policy=delete" in script
    assert "--if-not-exists" in script


def test_third_party_images_are_pinned() -> None:
    for name, service in resolved(ALL_PROFILES)["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert re.search(r"\d", tag), f"{name}: {image} is not pinned"
        assert tag != "latest", f"{name}: {image} is not pinned"
    assert resolved()["services"]["kafka"]["image"].startswith("apache/kafka:")


def test_the_containers_run_the_same_rucnet_commands_as_the_dockerfile() -> None:
    cmds = dockerfile_cmds()
    services = resolved()["services"]
    for name in APP_SERVICES:
        assert services[name]["build"]["target"] == name
        assert services[name]["command"] == ["rucnet", name] == cmds[name]
    assert services["migrate"]["command"] == ["rucnet", "migrate"]
    assert services["migrate"]["build"]["target"] == "runtime"


def test_the_image_is_multi_stage_pinned_non_root_and_checks_health() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", text)
    assert base
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base.group(1))
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert re.search(r"pip install -r \S*\.lock", text)
    assert "pip install --no-deps ." in text
    assert re.search(r"^USER rucnet", text, re.M)
    for name in APP_SERVICES:
        stage = text.split(f"AS {name}\n", 1)[1].split("\nFROM ", 1)[0]
        assert f'"/opt/rucnet/healthcheck.py", "{name}"' in stage
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def test_the_image_s_non_editable_install_carries_every_data_file() -> None:
    """`pip install --no-deps .` copies only packages' .py files and pyproject's package-data."""
    import tomllib

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]
    missing = []
    for package in ("shared", "services", "rucnet"):
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / package)
            if not any(relative.match(pattern) for pattern in package_data.get(package, [])):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"add to [tool.setuptools.package-data] in pyproject.toml: {missing}"
