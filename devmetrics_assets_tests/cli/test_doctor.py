"""`devmetrics doctor` and `devmetrics health` on the local profile (SQLite instance, DuckDB warehouse, the
package loaded in process): all checks pass on a configured home; a missing secret, an unreachable
warehouse, a stopped sensor, a failed tick and a missing daemon each fail naming what to fix; a
mistake in the flags or the profile is one line and exit 2. The pure judgements (doctor.py) are
tested on plain values. The running topology on PostgreSQL: devmetrics_assets_tests/deploy/."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.cli import main
from devmetrics_assets.doctor import (
    DaemonFacts,
    SensorFacts,
    SourceSecrets,
    daemon_result,
    heartbeat_result,
    parse_host_port,
    secret_results,
    sensor_results,
)
from devmetrics_assets.realtime.heartbeat import heartbeat_age

SECRET = "s3cr3t-value-never-printed"
NOW = 1_800_000_000.0  # a pinned wall-clock time (epoch seconds) for heartbeats


@pytest.fixture
def configured(home: Path, monkeypatch) -> Path:
    # Set (not deleted) so that monkeypatch restores it after `--profile` wrote os.environ in process.
    monkeypatch.setenv("DEVMETRICS_PROFILE", "local")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    return home


def doctor(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def failed(lines: list[str]) -> dict[str, str]:
    return {line[6:].split(":")[0]: line for line in lines if line.startswith("FAIL  ")}


def test_doctor_passes_on_a_configured_local_home_and_never_prints_a_secret(configured, capsys) -> None:
    code, lines, err = doctor(capsys, "--skip", "daemon")
    assert code == 0, lines
    assert failed(lines) == {}
    checked = {line[6:].split(":")[0] for line in lines if line.startswith("ok")}
    assert {"instance", "warehouse", "secrets github", "code location devmetrics_assets",
            "sensor devmetrics_automation", "sensor devmetrics_run_reaper"} <= checked
    assert lines[-1].startswith("doctor: all ")
    assert SECRET not in "\n".join(lines) + err


def test_a_missing_secret_fails_naming_the_variable_of_each_source(configured, monkeypatch, capsys) -> None:
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET")
    monkeypatch.setenv("GITLAB_TOKEN", SECRET)
    (configured / "sources.yaml").parent.mkdir(parents=True, exist_ok=True)
    (configured / "sources.yaml").write_text(
        "sources:\n"
        "  - {name: github_acme, type: landing_jsonl, provider: github, secret_env: GITHUB_WEBHOOK_SECRET}\n"
        "  - {name: gitlab_api, type: gitlab_api, provider: gitlab, token_env: GITLAB_TOKEN,\n"
        "     scope: {group: platform}}\n")
    code, lines, err = doctor(capsys, "--skip", "daemon", "--skip", "sensors")
    assert code == 1
    fails = failed(lines)
    assert set(fails) == {"secrets github_acme"}, lines
    assert "GITHUB_WEBHOOK_SECRET (webhook secret) not set" in fails["secrets github_acme"]
    assert any(line.startswith("ok    secrets gitlab_api: GITLAB_TOKEN set") for line in lines)
    assert SECRET not in "\n".join(lines) + err
    assert lines[-1] == "doctor: 1 of 4 checks failed: secrets github_acme"


def test_an_unreachable_warehouse_fails(configured, monkeypatch, tmp_path, capsys) -> None:
    garbage = tmp_path / "not-a-database.duckdb"
    garbage.write_bytes(b"this is not a DuckDB file" * 100)
    monkeypatch.setenv("DEVMETRICS_WAREHOUSE", str(garbage))
    code, lines, _ = doctor(capsys, "--skip", "daemon", "--skip", "sensors")
    assert code == 1
    assert set(failed(lines)) == {"warehouse"}
    assert str(garbage) in failed(lines)["warehouse"] and "DEVMETRICS_WAREHOUSE" in failed(lines)["warehouse"]

    monkeypatch.setenv("MONGODB_URI", "mongodb://")  # MongoDB through the same storage selection
    code, lines, _ = doctor(capsys, "--skip", "daemon", "--skip", "sensors")
    assert code == 1 and "MONGODB_URI is not a valid MongoDB URI" in failed(lines)["warehouse"]


def _sensor(instance: dg.DagsterInstance, name: str):
    from devmetrics_assets.doctor_probes import loaded_workspace

    with loaded_workspace(instance, None) as request:
        location = request.get_code_location("devmetrics_assets")
        repo = next(iter(location.get_repositories().values()))
        return repo.get_sensor(name)


def test_a_stopped_sensor_and_a_failed_tick_fail(configured, capsys) -> None:
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickData, TickStatus
    from dagster._utils.error import SerializableErrorInfo

    from devmetrics_assets.cli.doctor import _prepare

    _prepare(type("Args", (), {"profile": None})())  # dagster.yaml written, as the command does
    with dg.DagsterInstance.get() as instance:
        reaper = _sensor(instance, "devmetrics_run_reaper")
        instance.stop_sensor(reaper.get_remote_origin_id(), reaper.selector_id, reaper)
        automation = _sensor(instance, "devmetrics_automation")
        instance.create_tick(TickData(
            instigator_origin_id=automation.get_remote_origin_id(), instigator_name=automation.name,
            instigator_type=InstigatorType.SENSOR, status=TickStatus.FAILURE, timestamp=NOW,
            selector_id=automation.selector_id,
            error=SerializableErrorInfo("automation exploded\nsecond line", [], "RuntimeError")))
    code, lines, _ = doctor(capsys, "--skip", "daemon")
    assert code == 1
    fails = failed(lines)
    assert set(fails) == {"sensor devmetrics_run_reaper", "sensor devmetrics_automation"}, lines
    assert "stopped -> start it: dagster sensor start devmetrics_run_reaper" in \
        fails["sensor devmetrics_run_reaper"]
    assert "2027-01-15 08:00:00 UTC FAILURE: automation exploded" in fails["sensor devmetrics_automation"]


def test_a_missing_daemon_fails_and_heartbeating_daemons_pass(configured, capsys) -> None:
    from dagster._daemon.types import DaemonHeartbeat

    from devmetrics_assets.doctor_probes import daemon_check

    code, lines, _ = doctor(capsys, "--skip", "sensors")
    assert code == 1 and set(failed(lines)) == {"service daemon"}
    daemon = failed(lines)["service daemon"]
    assert "no heartbeat from" in daemon and "SENSOR" in daemon
    with dg.DagsterInstance.get() as instance:
        for daemon_type in instance.get_required_daemon_types():
            instance.add_daemon_heartbeat(DaemonHeartbeat(NOW - 5, daemon_type, None, None))
        assert daemon_check(instance, NOW).ok
        late = daemon_check(instance, NOW + 3600)
        assert not late.ok and "stale" in late.detail


def test_services_named_by_flags_or_variables_are_checked(configured, monkeypatch, capsys) -> None:
    from devmetrics_assets_tests.pg_server import free_port

    closed = free_port()
    monkeypatch.setenv("DEVMETRICS_CODE_SERVER", f"127.0.0.1:{closed}")
    code, lines, _ = doctor(capsys, "--skip", "daemon", "--skip", "sensors", "--skip", "instance",
                            "--receiver-url", f"http://127.0.0.1:{closed}",
                            "--watcher-heartbeat", str(configured / "nowhere"))
    assert code == 1
    assert set(failed(lines)) == {"service receiver", "service code-server", "service watcher"}, lines
    assert "UNAVAILABLE" in failed(lines)["service code-server"]


@pytest.mark.parametrize("args, message", [
    (["--profile", "staging"], "invalid choice: 'staging'"),
    (["--code-server", "no-port-here"], "--code-server: expected HOST:PORT"),
    (["--workspace", "/nonexistent/workspace.yaml"], "--workspace: no file"),
    (["--skip", "everything"], "invalid choice: 'everything'"),
])
def test_a_mistake_in_the_flags_is_one_line_and_exit_2(configured, capsys, args, message) -> None:
    try:
        code = main(["doctor", *args])
    except SystemExit as exc:  # argparse's own errors (choices) exit from the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_production_without_postgresql_is_a_user_error(configured, monkeypatch, capsys) -> None:
    for name in ("DAGSTER_PG_URL", "DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_DB",
                 "DAGSTER_PG_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    code, lines, err = doctor(capsys, "--profile", "production")
    assert code == 2 and lines == []
    assert err.startswith("error: DEVMETRICS_PROFILE=production needs PostgreSQL")
    assert len(err.strip().splitlines()) == 1


def test_prepare_writes_the_profiles_dagster_yaml(configured, capsys) -> None:
    code, lines, _ = doctor(capsys, "--prepare")
    written = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    assert code == 0 and written.read_text().startswith("# written by devmetrics")


def test_health_watcher_reads_the_heartbeat_file(configured, capsys) -> None:
    beat = configured / "realtime" / "heartbeat"
    assert main(["health", "watcher", "--heartbeat", str(beat)]) == 1
    beat.parent.mkdir(parents=True)
    beat.touch()
    assert main(["health", "watcher", "--heartbeat", str(beat)]) == 0
    os.utime(beat, (time.time() - 600, time.time() - 600))
    assert main(["health", "watcher", "--heartbeat", str(beat), "--max-age", "60"]) == 1
    assert "last heartbeat 600 s ago" in capsys.readouterr().err


# ---- the pure judgements ------------------------------------------------------------------------------

def test_secret_results_judge_presence_only() -> None:
    sources = [SourceSecrets("a", "A_SECRET", None), SourceSecrets("b", None, "B_TOKEN"),
               SourceSecrets("c", None, None), SourceSecrets("d", "D_SECRET", "D_TOKEN")]
    results = secret_results(sources, {"A_SECRET": "x", "B_TOKEN": "  ", "D_TOKEN": "y"})
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[1].detail == "B_TOKEN (API token) not set"
    assert results[3].detail == "D_SECRET (webhook secret) not set"
    assert "x" not in results[0].line() and results[2].detail.startswith("no secret declared")


def test_sensor_results() -> None:
    facts = [SensorFacts("a", True, None, None), SensorFacts("b", False, NOW, "SUCCESS"),
             SensorFacts("c", True, NOW, "SKIPPED"), SensorFacts("d", True, NOW, "FAILURE", "boom")]
    results = sensor_results(facts, "loc")
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[0].detail == "running; no tick yet"
    assert results[2].detail == "running; last tick 2027-01-15 08:00:00 UTC SKIPPED"
    assert results[3].line().startswith(
        "FAIL  sensor d: running; last tick 2027-01-15 08:00:00 UTC FAILURE: boom -> see the tick's error")
    assert not sensor_results([], "loc")[0].ok


def test_daemon_heartbeat_and_address_judgements(tmp_path) -> None:
    assert daemon_result([]).ok and daemon_result([DaemonFacts("SENSOR", True, NOW)]).ok
    stale = daemon_result([DaemonFacts("SENSOR", False, None), DaemonFacts("ASSET", False, NOW)])
    assert stale.detail == "no heartbeat from SENSOR; stale: ASSET (last 2027-01-15 08:00:00 UTC)"
    beat = tmp_path / "heartbeat"
    assert heartbeat_age(beat, NOW) is None and not heartbeat_result(None, 60, str(beat)).ok
    beat.touch()
    os.utime(beat, (NOW - 30, NOW - 30))
    assert heartbeat_age(beat, NOW) == 30
    assert heartbeat_result(30, 60, str(beat)).ok and not heartbeat_result(61, 60, str(beat)).ok
    assert parse_host_port("code-server:4000", "x") == ("code-server", 4000)
    for bad in ("code-server", ":4000", "h:0", "h:70000", "h:port"):
        with pytest.raises(ValueError):
            parse_host_port(bad, "x")

