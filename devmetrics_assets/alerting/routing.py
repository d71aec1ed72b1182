"""alerting.yaml: which channels exist, which notification goes where, and how delivery retries.

Routing is configuration, not code: a route matches on asset group, owner, severity, kind and asset
name, and names the channels to use. Every matching route adds its channels (a route with
`stop: true` ends the search); a notification no route matches goes to `default_channels`. Without a
file, everything goes to the local `console` channel (a JSON-lines file under DEVMETRICS_HOME, echoed
to stderr), so a fresh install needs no server and no credentials.

Links in messages point at the UI: `DEVMETRICS_UI_URL` when set (`devmetrics ui --port N` sets it for the
daemon it starts, unless an address is configured), else `ui_base_url`, else http://127.0.0.1:3000.

A malformed file fails with a ConfigError naming the file and the field, like rules.yaml.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devmetrics_assets.alerting.api import SEVERITIES, Notification
from devmetrics_assets.alerting.channels import Channel, build_channel, severity_rank
from devmetrics_assets.config import ConfigError

CONFIG_FILE = "alerting.yaml"
CONFIG_ENV = "DEVMETRICS_ALERTING"
DEFAULT_CHANNEL = "console"
UI_URL_ENV = "DEVMETRICS_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:3000"
MATCH_FIELDS = ("group", "owner", "severity", "min_severity", "kind", "asset")


@dataclass(frozen=True)
class Route:
    """All given criteria must hold (AND); a list inside one criterion is any-of (OR)."""

    channels: tuple[str, ...]
    groups: frozenset[str] | None = None
    owners: frozenset[str] | None = None
    severities: frozenset[str] | None = None
    min_severity: str | None = None
    kinds: frozenset[str] | None = None
    assets: tuple[str, ...] | None = None  # fnmatch patterns on the asset key ("silver_*")
    stop: bool = False

    def matches(self, n: Notification) -> bool:
        if self.groups is not None and n.group not in self.groups:
            return False
        if self.owners is not None and not self.owners.intersection(n.owners):
            return False
        if self.severities is not None and n.severity not in self.severities:
            return False
        if self.min_severity is not None and severity_rank(n.severity) < severity_rank(self.min_severity):
            return False
        if self.kinds is not None and n.kind not in self.kinds:
            return False
        if self.assets is not None and not (
            n.asset_key and any(fnmatch.fnmatchcase(n.asset_key, p) for p in self.assets)
        ):
            return False
        return True


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts_per_tick: int = 20  # sends per deliver() call, over all channels
    backoff_base_seconds: float = 5.0  # retry n waits uniform(0, min(max, base * 2**(n-1))): full jitter
    backoff_max_seconds: float = 900.0
    failures_before_alert: int = 3  # consecutive failures of a channel before the fallback is told
    timeout_seconds: float = 5.0  # per HTTP request / SMTP conversation step
    deliver_on_notify: bool = True  # try to send at once; the outbox keeps what does not go
    retention_days: int = 30  # delivered messages and cleared problems are kept this long


@dataclass(frozen=True)
class AlertingConfig:
    channel_specs: dict[str, dict[str, Any]]
    routes: tuple[Route, ...] = ()
    default_channels: tuple[str, ...] = (DEFAULT_CHANNEL,)
    fallback_channel: str = DEFAULT_CHANNEL
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    ui_base_url: str | None = DEFAULT_UI_URL
    origin: str = "<defaults>"
    ui_base_url_set: bool = False  # the file gives ui_base_url (then `devmetrics ui` leaves it alone)

    def route(self, n: Notification) -> tuple[str, ...]:
        """The channels for a notification, in configuration order, without duplicates."""
        chosen: list[str] = []
        for route in self.routes:
            if route.matches(n):
                chosen += [c for c in route.channels if c not in chosen]
                if route.stop:
                    break
        return tuple(chosen) if chosen else self.default_channels

    def build_channels(self, home: Path) -> dict[str, Channel]:
        return {
            name: build_channel(name, spec, where=f"{self.origin}: channels.{name}", home=home,
                                timeout=self.delivery.timeout_seconds)
            for name, spec in self.channel_specs.items()
        }


def default_config() -> AlertingConfig:
    return AlertingConfig(channel_specs={DEFAULT_CHANNEL: {"type": "console"}},
                          ui_base_url=ui_base_url(DEFAULT_UI_URL, "<defaults>"))


def _checked_url(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
        raise ConfigError(f"{where}: expected an http(s) URL, got {value!r}")
    return value.rstrip("/") if value else None


def ui_base_url(configured: Any, origin: str) -> str | None:
    """The UI's address for links: DEVMETRICS_UI_URL, else the configured value (None: no links)."""
    configured = _checked_url(configured, f"{origin}: ui_base_url (or null)")
    env = os.environ.get(UI_URL_ENV)
    return _checked_url(env, UI_URL_ENV) if env else configured


def _names(value: Any, where: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a string or a non-empty list of strings, got {value!r}")
    return frozenset(value)


def _severity(value: Any, where: str) -> str:
    if value not in SEVERITIES:
        raise ConfigError(f"{where}: expected one of {list(SEVERITIES)}, got {value!r}")
    return value


def _channel_list(value: Any, where: str, known: Mapping[str, Any]) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(v, str) for v in names):
        raise ConfigError(f"{where}: expected a channel name or a non-empty list of channel names")
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"{where}: unknown channel(s) {missing}; defined: {sorted(known)}")
    return tuple(dict.fromkeys(names))


def _route(data: Any, where: str, known: Mapping[str, Any]) -> Route:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with 'match' and 'channels'")
    fields = ["channels", "match", "name", "stop"]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {fields}")
    if "channels" not in data:
        raise ConfigError(f"{where}.channels: required")
    match = data.get("match") or {}
    if not isinstance(match, dict):
        raise ConfigError(f"{where}.match: expected a mapping of {list(MATCH_FIELDS)}")
    bad = sorted(set(match) - set(MATCH_FIELDS))
    if bad:
        raise ConfigError(f"{where}.match: unknown field(s) {bad}; known: {list(MATCH_FIELDS)}")
    severities = None
    if "severity" in match:
        severities = _names(match["severity"], f"{where}.match.severity")
        for s in severities:
            _severity(s, f"{where}.match.severity")
    stop = data.get("stop", False)
    if not isinstance(stop, bool):
        raise ConfigError(f"{where}.stop: expected true or false, got {stop!r}")
    return Route(
        channels=_channel_list(data["channels"], f"{where}.channels", known),
        groups=_names(match["group"], f"{where}.match.group") if "group" in match else None,
        owners=_names(match["owner"], f"{where}.match.owner") if "owner" in match else None,
        severities=severities,
        min_severity=_severity(match["min_severity"], f"{where}.match.min_severity")
        if "min_severity" in match else None,
        kinds=_names(match["kind"], f"{where}.match.kind") if "kind" in match else None,
        assets=tuple(sorted(_names(match["asset"], f"{where}.match.asset"))) if "asset" in match else None,
        stop=stop,
    )


def _delivery(data: Any, where: str) -> DeliverySettings:
    if data is None:
        return DeliverySettings()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping")
    defaults = DeliverySettings()
    known = set(defaults.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            value = type(default)(value) if ok else value
            ok = ok and (not isinstance(default, int) or value >= 1)
        if not ok:
            kind = type(default).__name__
            raise ConfigError(f"{where}.{key}: expected a positive {kind}, got {data[key]!r}")
        values[key] = value
    return DeliverySettings(**values)


def config_from_mapping(data: Any, origin: str = "<mapping>", home: Path | None = None) -> AlertingConfig:
    """Validate a parsed alerting.yaml. Channels are also built once (with `home`) so a channel's own
    fields are checked now rather than at the first failure to send."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    known = {"channels", "routes", "default_channels", "fallback_channel", "delivery", "ui_base_url"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{origin}: unknown field(s) {unknown}; known: {sorted(known)}")
    channels = data.get("channels") or {}
    if not isinstance(channels, dict):
        raise ConfigError(f"{origin}: channels: expected a mapping of channel name -> {{type: ...}}")
    specs: dict[str, dict[str, Any]] = {DEFAULT_CHANNEL: {"type": "console"}}
    for name, spec in channels.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{origin}: channels: channel names must be non-empty strings, got {name!r}")
        if not isinstance(spec, dict):
            raise ConfigError(f"{origin}: channels.{name}: expected a mapping with a 'type'")
        specs[name] = dict(spec)
    routes_data = data.get("routes") or []
    if not isinstance(routes_data, list):
        raise ConfigError(f"{origin}: routes: expected a list of {{match, channels}}")
    routes = tuple(_route(r, f"{origin}: routes[{i}]", specs) for i, r in enumerate(routes_data))
    default_channels = _channel_list(data.get("default_channels", [DEFAULT_CHANNEL]),
                                     f"{origin}: default_channels", specs)
    fallback = data.get("fallback_channel", DEFAULT_CHANNEL)
    if not isinstance(fallback, str) or fallback not in specs:
        raise ConfigError(f"{origin}: fallback_channel: unknown channel {fallback!r}; "
                          f"defined: {sorted(specs)}")
    config = AlertingConfig(
        channel_specs=specs, routes=routes, default_channels=default_channels, fallback_channel=fallback,
        delivery=_delivery(data.get("delivery"), f"{origin}: delivery"),
        ui_base_url=ui_base_url(data.get("ui_base_url", DEFAULT_UI_URL), origin), origin=origin,
        ui_base_url_set="ui_base_url" in data,
    )
    config.build_channels(home or Path.cwd())  # validates every channel's fields
    return config


def config_path(home: Path) -> Path:
    """Where alerting.yaml is looked for: DEVMETRICS_ALERTING, else DEVMETRICS_HOME/alerting.yaml."""
    return Path(os.environ.get(CONFIG_ENV, home / CONFIG_FILE))


def load_config(path: str | os.PathLike[str] | None, home: Path | None = None) -> AlertingConfig:
    """Read alerting.yaml; None or a missing file gives the defaults (everything to `console`)."""
    if path is None or not Path(path).exists():
        return default_config()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return config_from_mapping(data, origin=str(path), home=home)
