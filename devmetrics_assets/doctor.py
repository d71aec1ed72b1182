"""`devmetrics doctor`: the pure judgements, apart from the probes that gather their facts.

Each check is a `CheckResult`: ok or not, what was found, and for a failure what to fix. The probes
(doctor_probes.py) talk to Dagster, the warehouse and the services; the functions here only decide,
from plain values, so they are tested without any of those running. Secrets are judged by whether
their variable is set, never by their value, and no value is ever put in a result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

OK = "ok"
FAIL = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    name: str  # e.g. "instance", "secrets github", "sensor devmetrics_automation", "service receiver"
    ok: bool
    detail: str
    fix: str = ""  # what to do about a failure (empty when ok)

    def line(self) -> str:
        """One line for a person: `ok    name: detail` or `FAIL  name: detail; fix`."""
        text = f"{OK if self.ok else FAIL:<5} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} -> {self.fix}"


def passed(results: Iterable[CheckResult]) -> bool:
    return all(r.ok for r in results)


def first_line(exc: BaseException) -> str:
    """An exception as a short line: its type and first message line (no traceback, no URL secrets)."""
    text = (str(exc).strip().splitlines() or [""])[0][:240]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class SourceSecrets:
    """A declared source and the names of the variables its credentials live in."""

    name: str
    secret_env: str | None  # webhook signing secret
    token_env: str | None  # API token of a pull source


def secret_results(sources: Sequence[SourceSecrets], environ: Mapping[str, str]) -> list[CheckResult]:
    """One result per source: every variable it names is set (non-empty). Values are never read out."""
    results = []
    for source in sources:
        wanted = [(kind, var) for kind, var in (("webhook secret", source.secret_env),
                                                 ("API token", source.token_env)) if var]
        missing = [(kind, var) for kind, var in wanted if not environ.get(var, "").strip()]
        name = f"secrets {source.name}"
        if not wanted:
            results.append(CheckResult(name, True, "no secret declared (unsigned source)"))
        elif missing:
            names = ", ".join(f"{var} ({kind})" for kind, var in missing)
            results.append(CheckResult(
                name, False, f"{names} not set",
                "set it in the environment of the receiver, the code server and the daemon "
                "(deploy/devmetrics.env); sources.yaml names the variable, never the value"))
        else:
            results.append(CheckResult(name, True, ", ".join(f"{var} set" for _, var in wanted)))
    return results


@dataclass(frozen=True)
class SensorFacts:
    """What the instance knows of one sensor of the code location."""

    name: str
    running: bool  # after its default status (a sensor declared RUNNING in code with no stored state)
    last_tick_at: float | None  # epoch seconds
    last_tick_status: str | None  # SUCCESS, SKIPPED, FAILURE, STARTED
    last_tick_error: str | None = None


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sensor_results(sensors: Sequence[SensorFacts], location: str) -> list[CheckResult]:
    """A stopped sensor, or one whose last tick failed, is a failure; no tick yet is reported, not failed
    (the daemon check says whether anything is ticking at all)."""
    if not sensors:
        return [CheckResult("sensors", False, f"code location {location} declares no sensors",
                            "check that the workspace points at devmetrics_assets.definitions")]
    results = []
    for s in sensors:
        name = f"sensor {s.name}"
        if not s.running:
            results.append(CheckResult(name, False, "stopped",
                                       f"start it: dagster sensor start {s.name} -w <workspace.yaml>, "
                                       "or in the UI (Automation)"))
            continue
        if s.last_tick_at is None:
            results.append(CheckResult(name, True, "running; no tick yet"))
            continue
        tick = f"running; last tick {_when(s.last_tick_at)} {s.last_tick_status}"
        if s.last_tick_status == "FAILURE":
            error = f": {s.last_tick_error}" if s.last_tick_error else ""
            results.append(CheckResult(name, False, f"{tick}{error}",
                                       "see the tick's error in the UI (Automation > sensor > ticks)"))
        else:
            results.append(CheckResult(name, True, tick))
    return results


@dataclass(frozen=True)
class DaemonFacts:
    daemon_type: str
    healthy: bool
    last_heartbeat_at: float | None


def daemon_result(daemons: Sequence[DaemonFacts]) -> CheckResult:
    """All daemons the instance needs have a recent heartbeat (what `dagster-daemon liveness-check` asks)."""
    if not daemons:
        return CheckResult("service daemon", True, "no daemon required by this instance")
    stale = [d for d in daemons if not d.healthy]
    if not stale:
        return CheckResult("service daemon", True, f"{len(daemons)} daemons heartbeating")
    never = [d.daemon_type for d in stale if d.last_heartbeat_at is None]
    late = [f"{d.daemon_type} (last {_when(d.last_heartbeat_at)})" for d in stale
            if d.last_heartbeat_at is not None]
    parts = ([f"no heartbeat from {', '.join(never)}"] if never else []) + \
        ([f"stale: {', '.join(late)}"] if late else [])
    return CheckResult("service daemon", False, "; ".join(parts),
                       "start dagster-daemon (dagster-daemon run -w workspace.yaml) on this instance")


def heartbeat_result(age_seconds: float | None, max_age_seconds: float, path: str) -> CheckResult:
    """The watcher touched its heartbeat file within `max_age_seconds`."""
    if age_seconds is None:
        return CheckResult("service watcher", False, f"no heartbeat file {path}",
                           "start the watcher (python -m devmetrics_assets.realtime) with the same "
                           "DEVMETRICS_HOME, or pass its --heartbeat path")
    if age_seconds > max_age_seconds:
        return CheckResult("service watcher", False,
                           f"last heartbeat {age_seconds:.0f} s ago (limit {max_age_seconds:.0f} s)",
                           "the watcher is stopped or stuck: see its log, restart it")
    return CheckResult("service watcher", True, f"heartbeat {age_seconds:.0f} s ago")


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    """`HOST:PORT` (port 1-65535); ValueError with a one-line reason otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{what}: expected HOST:PORT, got {text!r}")
    return host, int(port)
