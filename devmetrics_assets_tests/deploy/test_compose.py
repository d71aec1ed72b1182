"""deploy/: the compose file, its workspace, env example and image, and the systemd units, checked as
files (no container runs here): every service is built or pulled, runs a command, has a health check
that names a real command, and waits for what it needs; the replica set has three members; every
${VAR} the compose file uses is in the example env file, which holds placeholders only; the systemd
units parse and run the same commands as the compose services."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml

from devmetrics_assets.cli import build_parser
from devmetrics_assets_tests.deploy.services import DEPLOY, compose_services, service_commands

APPS = ("code-server", "dagster-daemon", "dagster-webserver", "receiver", "watcher")
USES_INSTANCE = ("code-server", "dagster-daemon", "dagster-webserver", "watcher")
UNITS = {"code-server": "devmetrics-code-server.service", "dagster-daemon": "devmetrics-daemon.service",
         "dagster-webserver": "devmetrics-webserver.service", "receiver": "devmetrics-receiver.service",
         "watcher": "devmetrics-watcher.service"}


def env_file(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert all(len(pair) == 2 and pair[0] == pair[0].strip() for pair in pairs), path
    return dict(pairs)


def app_command(name: str) -> list[str]:
    """The service's own command (after the `devmetrics doctor --prepare &&` start-up step)."""
    command = compose_services()[name]["command"]
    return command[2].split("&&", 1)[1].split()[1:] if command[:2] == ["sh", "-c"] else command


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def test_every_service_has_an_image_a_command_and_a_health_check() -> None:
    services = compose_services()
    assert {*APPS, "postgres", "mongo1", "mongo2", "mongo3", "mongo-rs-init"} == set(services)
    for name, spec in services.items():
        assert spec.get("image") or spec.get("build"), name
        assert spec.get("command"), name
        assert spec.get("healthcheck", {}).get("test"), name
    for name in APPS:
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert services[name]["environment"]["DEVMETRICS_PROFILE"] == "production"


def test_services_wait_for_what_they_need() -> None:
    services = compose_services()
    for name in USES_INSTANCE:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    for name in ("dagster-daemon", "dagster-webserver"):
        assert services[name]["depends_on"]["code-server"] == {"condition": "service_healthy"}, name
    for name in ("code-server", "watcher"):  # the warehouse: the replica set, once initiated
        assert services[name]["depends_on"]["mongo-rs-init"] == {
            "condition": "service_completed_successfully"}
    assert services["mongo-rs-init"]["depends_on"] == {
        f"mongo{i}": {"condition": "service_healthy"} for i in (1, 2, 3)}
    for name, spec in services.items():
        for needed in spec.get("depends_on", {}):
            assert needed in services, (name, needed)


def test_the_replica_set_has_three_members_initiated_once() -> None:
    services = compose_services()
    members = [name for name, spec in services.items() if spec["command"][0] == "mongod"]
    assert members == ["mongo1", "mongo2", "mongo3"]
    for name in members:
        command = services[name]["command"]
        assert command[command.index("--replSet") + 1] == "${MONGO_REPLICA_SET}"
        assert services[name]["volumes"] != services["mongo1"]["volumes"] or name == "mongo1"
    script = services["mongo-rs-init"]["command"][-1]
    assert "rs.initiate" in script and "rs.status()" in script  # idempotent: initiated only once
    assert re.findall(r'host: "(mongo\d):27017"', script) == members
    uri = services["code-server"]["environment"]["MONGODB_URI"]
    assert uri == "mongodb://mongo1:27017,mongo2:27017,mongo3:27017/?replicaSet=${MONGO_REPLICA_SET}"


def test_every_variable_the_compose_file_uses_is_in_the_example_env_file_with_placeholders() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    example = env_file(DEPLOY / "devmetrics.env.example")
    assert used and used <= set(example), used - set(example)
    for path in (DEPLOY / "devmetrics.env.example", DEPLOY / "systemd" / "devmetrics.env.example"):
        for key, value in env_file(path).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert value.startswith("change-me"), (path, key)  # placeholders only
    assert compose_services()["receiver"]["env_file"] == "devmetrics.env"


def test_the_workspace_points_at_the_code_server_under_the_doctors_location_name() -> None:
    from devmetrics_assets.doctor_probes import DEFINITIONS_MODULE, LOCATION_NAME

    server = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    assert server == {"host": "code-server", "port": 4000, "location_name": LOCATION_NAME}
    command = app_command("code-server")
    assert command[:3] == ["dagster", "api", "grpc"]
    option = {command[i]: command[i + 1] for i in range(3, len(command) - 1) if command[i].startswith("-")}
    assert option["-m"] == DEFINITIONS_MODULE and option["-a"] == "defs"
    assert option["--location-name"] == LOCATION_NAME and option["--port"] == "4000"
    health = compose_services()["code-server"]["healthcheck"]["test"]
    assert health[1:4] == ["dagster", "api", "grpc-health-check"] and "4000" in health
    # The image holds the workspace where the daemon and the webserver are told to read it.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/workspace.yaml ./deploy/workspace.yaml" in dockerfile
    assert "WORKDIR /opt/devmetrics" in dockerfile
    for name in ("dagster-daemon", "dagster-webserver"):
        assert "/opt/devmetrics/deploy/workspace.yaml" in app_command(name)


@pytest.mark.parametrize("name", ["dagster-webserver", "receiver", "watcher"])
def test_devmetrics_health_checks_parse_as_devmetrics_commands(name: str) -> None:
    test = compose_services()[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "devmetrics", "health"]
    args = build_parser().parse_args(test[2:])
    assert args.command == "health"


def test_the_dagster_services_prepare_their_instance_before_starting() -> None:
    for name in ("code-server", "dagster-daemon", "dagster-webserver"):
        command = compose_services()[name]["command"]
        assert command[:2] == ["sh", "-c"] and command[2].startswith("devmetrics doctor --prepare && exec ")
    assert build_parser().parse_args(["doctor", "--prepare"]).prepare
    assert compose_services()["dagster-daemon"]["healthcheck"]["test"] == ["CMD", "dagster-daemon",
                                                                        "liveness-check"]


@pytest.mark.parametrize("service", APPS)
def test_systemd_units_parse_and_run_the_compose_commands(service: str) -> None:
    parsed = unit(UNITS[service])
    assert {"Unit", "Service", "Install"} <= set(parsed.sections())
    assert parsed["Service"]["EnvironmentFile"] == "/etc/devmetrics/devmetrics.env"
    assert parsed["Service"]["Restart"] == "on-failure"
    argv = shlex.split(parsed["Service"]["ExecStart"])
    assert argv[0].startswith("/opt/devmetrics/.venv/bin/")
    compose = app_command(service)
    systemd = {"0.0.0.0": "127.0.0.1",
               "/opt/devmetrics/deploy/workspace.yaml": "/etc/devmetrics/workspace.yaml"}
    local = [systemd.get(word, word) for word in compose]
    assert [Path(argv[0]).name, *argv[1:]] == local
    if service in USES_INSTANCE:
        assert parsed["Service"]["ExecStartPre"].endswith("/devmetrics doctor --prepare")


def test_the_systemd_side_has_its_workspace_env_file_target_and_doctor_timer() -> None:
    workspace = yaml.safe_load((DEPLOY / "systemd" / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert server == {"host": "127.0.0.1", "port": 4000, "location_name": "devmetrics_assets"}
    example = env_file(DEPLOY / "systemd" / "devmetrics.env.example")
    assert {"DEVMETRICS_PROFILE", "DAGSTER_HOME", "DAGSTER_PG_HOST", "GITHUB_WEBHOOK_SECRET",
            "DEVMETRICS_WORKSPACE", "DEVMETRICS_CODE_SERVER", "DEVMETRICS_WATCHER_HEARTBEAT"} <= set(example)
    target = unit("devmetrics.target")["Unit"]["Wants"].split()
    assert set(UNITS.values()) | {"devmetrics-doctor.timer"} == set(target)
    assert unit("devmetrics-doctor.service")["Service"]["ExecStart"].endswith("devmetrics doctor")
    assert unit("devmetrics-doctor.timer")["Timer"]["OnUnitActiveSec"] == "5min"
    for service in APPS:
        assert unit(UNITS[service])["Install"]["WantedBy"] == "devmetrics.target"


def test_the_topology_helpers_follow_the_compose_file() -> None:
    commands = service_commands({"code-server": 14000, "dagster-webserver": 13000, "receiver": 18787},
                                Path("/tmp/ws.yaml"))
    code, code_health = commands["code-server"]
    assert code[1:4] == ["api", "grpc", "-m"] and "14000" in code and "127.0.0.1" in code
    assert code_health[-4:] == ["--host", "127.0.0.1", "--port", "14000"]
    assert commands["dagster-daemon"][0][1:] == ["run", "-w", "/tmp/ws.yaml"]
    assert commands["dagster-webserver"][1][-1] == "http://127.0.0.1:13000/server_info"
    assert commands["receiver"][1][-1] == "http://127.0.0.1:18787/healthz"
    assert commands["watcher"][0][1:] == ["-m", "devmetrics_assets.realtime"]
