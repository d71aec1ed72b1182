"""Delivery channels: where a queued notification goes (Slack, a JSON webhook, email, a local file).

A channel only knows how to send one message and how to say why it could not. Retries, backoff and
"nothing lost while it is down" belong to the outbox, so `send` either returns (delivered) or raises
`DeliveryError` (try again later). Secrets (webhook URLs, SMTP passwords) are read from environment
variables named in alerting.yaml at send time: they never sit in the config file or the outbox, and a
variable that is not set makes the channel fail (and queue) instead of breaking the notifier.

Messages are plain dicts (`notification_to_message`), because that is what the outbox stores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol, TextIO

from devmetrics_assets.alerting.api import SEVERITIES, Notification
from devmetrics_assets.config import ConfigError

MESSAGE_VERSION = 1
USER_AGENT = "devmetrics-alerting/1"
SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":red_circle:",
                  "critical": ":rotating_light:"}


class DeliveryError(Exception):
    """A message could not be delivered now; the outbox retries it later.

    `retry_after` is the receiver's own hint (HTTP Retry-After) in seconds; `permanent` marks errors
    retrying will not fix by itself (a 404 webhook URL, a rejected recipient) so the meta-notification
    can say a configuration change is needed. The outbox still keeps the message.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def send(self, message: Mapping[str, Any]) -> None:
        """Deliver one message or raise DeliveryError."""
        ...


# ---- the message ------------------------------------------------------------------------------
def notification_to_message(notification: Notification, message_id: str | None = None) -> dict[str, Any]:
    """The JSON form a notification is queued and posted in (stable field names, ISO times)."""
    data = asdict(notification)
    data["occurred_at"] = notification.occurred_at.isoformat()
    data["owners"] = list(notification.owners)
    data["details"] = json.loads(json.dumps(notification.details, default=str))
    return {"type": "devmetrics.notification", "version": MESSAGE_VERSION, "message_id": message_id, **data}


def headline(message: Mapping[str, Any]) -> str:
    """One line a person can read: `[ERROR] title` or `[RESOLVED] title`."""
    tag = "RESOLVED" if message.get("recovery") else str(message.get("severity", "info")).upper()
    return f"[{tag}] {message.get('title', '')}"


def _context_line(message: Mapping[str, Any]) -> str:
    parts = []
    if message.get("asset_key"):
        parts.append(f"asset {message['asset_key']}")
    if message.get("group"):
        parts.append(f"group {message['group']}")
    if message.get("owners"):
        parts.append("owners " + ", ".join(message["owners"]))
    parts.append(f"at {message.get('occurred_at')}")
    parts.append(f"problem {message.get('problem_key')}")
    return " · ".join(parts)


def text_body(message: Mapping[str, Any]) -> str:
    """Plain-text rendering shared by email and the local file."""
    lines = [headline(message), "", str(message.get("body", "")).strip(), "", _context_line(message)]
    links = (message.get("details") or {}).get("links") or {}
    lines += [f"{name}: {url}" for name, url in links.items()]
    return "\n".join(lines).strip() + "\n"


# ---- HTTP -------------------------------------------------------------------------------------
def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def post_json(url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
              timeout: float = 5.0) -> int:
    """POST JSON; 2xx returns the status, anything else raises DeliveryError."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT, **dict(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        # 408/429/5xx are the receiver's own trouble; other 4xx mean our URL or payload is wrong.
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        detail = exc.read()[:200].decode("utf-8", "replace") if exc.fp else ""
        raise DeliveryError(f"HTTP {exc.code} from webhook: {detail or exc.reason}",
                            retry_after=_retry_after(exc.headers.get("Retry-After")),
                            permanent=permanent) from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook unreachable: {reason}") from exc


def _resolve(value: str | None, env: str | None, what: str) -> str:
    if value:
        return value
    if env and os.environ.get(env):
        return os.environ[env]
    raise DeliveryError(f"{what} is not configured: environment variable {env} is not set", permanent=True)


@dataclass
class SlackWebhookChannel:
    """A Slack (or Slack-compatible: Mattermost, Rocket.Chat, Teams workflows) incoming webhook."""

    name: str
    url: str | None = None
    url_env: str | None = None
    timeout: float = 5.0

    def payload(self, message: Mapping[str, Any]) -> dict[str, Any]:
        emoji = ":white_check_mark:" if message.get("recovery") else SEVERITY_EMOJI.get(
            str(message.get("severity")), "")
        title = f"{emoji} {headline(message)}".strip()
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        ]
        if message.get("body"):
            body = str(message["body"])[:2900]  # Slack caps a section at 3000 characters
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
        context = _context_line(message)
        links = (message.get("details") or {}).get("links") or {}
        if links:
            context += " · " + " · ".join(f"<{url}|{name}>" for name, url in links.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context[:2900]}]})
        # `text` is what notifications and clients without blocks show.
        return {"text": title, "blocks": blocks}

    def send(self, message: Mapping[str, Any]) -> None:
        post_json(_resolve(self.url, self.url_env, f"channel {self.name}: webhook URL"),
                  self.payload(message), timeout=self.timeout)


@dataclass
class JsonWebhookChannel:
    """POSTs the message itself; signed with HMAC-SHA256 when a secret is configured.

    Delivery is at-least-once (a timeout after the receiver stored it is retried), so receivers
    de-duplicate on the `X-Devmetrics-Message-Id` header / `message_id` field.
    """

    name: str
    url: str | None = None
    url_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    secret_env: str | None = None
    timeout: float = 5.0

    def send(self, message: Mapping[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {**self.headers, "X-Devmetrics-Message-Id": str(message.get("message_id"))}
        if self.secret_env:
            secret = _resolve(None, self.secret_env, f"channel {self.name}: signing secret")
            digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Devmetrics-Signature-256"] = f"sha256={digest}"
        post_json(_resolve(self.url, self.url_env, f"channel {self.name}: webhook URL"), message,
                  headers=headers, timeout=self.timeout)


@dataclass
class EmailChannel:
    """Email over SMTP (smtplib): plain SMTP, STARTTLS or implicit TLS, optional login."""

    name: str
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout: float = 10.0

    def build(self, message: Mapping[str, Any]) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = f"[devmetrics] {headline(message)}"
        email["From"] = self.sender
        email["To"] = ", ".join(self.to)
        email["Date"] = formatdate(usegmt=True)
        # Stable id per queued message: a retried send after a lost reply can be recognised.
        email["Message-ID"] = f"<devmetrics-{message.get('message_id')}@{self.sender.split('@')[-1]}>"
        email["X-Devmetrics-Problem"] = str(message.get("problem_key"))
        email.set_content(text_body(message))
        return email

    def send(self, message: Mapping[str, Any]) -> None:
        email = self.build(message)
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    password = _resolve(None, self.password_env, f"channel {self.name}: SMTP password")
                    smtp.login(self.username, password)
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused every recipient: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}",
                                permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP server {self.host}:{self.port} unreachable: {exc}") from exc
        if refused:
            # Some recipients accepted: resending would duplicate theirs, so this counts as delivered.
            print(f"devmetrics alerting: {self.name}: recipients refused: {sorted(refused)}", file=sys.stderr)


@dataclass
class FileChannel:
    """Appends each message as one JSON line to a local file; `echo` also prints a line to stderr.

    The default channel (type `console`): needs no server, and is where the notifier reports that
    another channel keeps failing.
    """

    name: str
    path: Path
    echo: bool = False
    stream: TextIO | None = None

    def send(self, message: Mapping[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc}") from exc
        if self.echo:
            print(f"devmetrics alert {headline(message)} ({_context_line(message)})",
                  file=self.stream or sys.stderr, flush=True)


# ---- configuration: one builder per `type:` in alerting.yaml ------------------------------------
def _get(spec: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = None,
         required: bool = False) -> Any:
    if key not in spec or spec[key] is None:
        if required:
            raise ConfigError(f"{where}.{key}: required")
        return default
    value = spec[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")
    return value


def _check_fields(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed - {"type"})
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {sorted(allowed | {'type'})}")


def _url_fields(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    url, url_env = _get(spec, "url", str, where), _get(spec, "url_env", str, where)
    if bool(url) == bool(url_env):
        raise ConfigError(f"{where}: give exactly one of url (a literal) or url_env (environment variable)")
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: expected an http(s) URL, got {url!r}")
    return {"url": url, "url_env": url_env}


def _slack(name: str, spec: Mapping[str, Any], where: str, home: Path, timeout: float) -> Channel:
    _check_fields(spec, {"url", "url_env", "timeout_seconds"}, where)
    return SlackWebhookChannel(name=name, **_url_fields(spec, where),
                               timeout=float(_get(spec, "timeout_seconds", (int, float), where, timeout)))


def _webhook(name: str, spec: Mapping[str, Any], where: str, home: Path, timeout: float) -> Channel:
    _check_fields(spec, {"url", "url_env", "headers", "secret_env", "timeout_seconds"}, where)
    headers = _get(spec, "headers", dict, where, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigError(f"{where}.headers: expected a mapping of header name -> string")
    return JsonWebhookChannel(name=name, **_url_fields(spec, where), headers=dict(headers),
                              secret_env=_get(spec, "secret_env", str, where),
                              timeout=float(_get(spec, "timeout_seconds", (int, float), where, timeout)))


def _email(name: str, spec: Mapping[str, Any], where: str, home: Path, timeout: float) -> Channel:
    allowed = {"host", "port", "sender", "to", "starttls", "ssl", "username", "password_env",
               "timeout_seconds"}
    _check_fields(spec, allowed, where)
    to = _get(spec, "to", (str, list), where, required=True)
    to = [to] if isinstance(to, str) else to
    if not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise ConfigError(f"{where}.to: expected one or more email addresses, got {to!r}")
    sender = _get(spec, "sender", str, where, required=True)
    if "@" not in sender:
        raise ConfigError(f"{where}.sender: expected an email address, got {sender!r}")
    use_ssl = _get(spec, "ssl", bool, where, False)
    return EmailChannel(
        name=name, host=_get(spec, "host", str, where, required=True), sender=sender, to=tuple(to),
        port=int(_get(spec, "port", int, where, 465 if use_ssl else 25)),
        starttls=_get(spec, "starttls", bool, where, False), use_ssl=use_ssl,
        username=_get(spec, "username", str, where), password_env=_get(spec, "password_env", str, where),
        timeout=float(_get(spec, "timeout_seconds", (int, float), where, max(timeout, 10.0))),
    )


def _file(name: str, spec: Mapping[str, Any], where: str, home: Path, timeout: float,
          echo_default: bool = False, path_default: str | None = None) -> Channel:
    _check_fields(spec, {"path", "echo"}, where)
    raw = _get(spec, "path", str, where, path_default, required=path_default is None)
    path = Path(raw).expanduser()
    return FileChannel(name=name, path=path if path.is_absolute() else home / path,
                       echo=_get(spec, "echo", bool, where, echo_default))


def _console(name: str, spec: Mapping[str, Any], where: str, home: Path, timeout: float) -> Channel:
    return _file(name, spec, where, home, timeout, echo_default=True, path_default="notifications.jsonl")


ChannelBuilder = Callable[[str, Mapping[str, Any], str, Path, float], Channel]
CHANNEL_TYPES: dict[str, ChannelBuilder] = {
    "slack": _slack, "webhook": _webhook, "email": _email, "file": _file, "console": _console,
}


def build_channel(
    name: str, spec: Mapping[str, Any], *, where: str, home: Path, timeout: float = 5.0
) -> Channel:
    """A channel from its alerting.yaml entry; ConfigError names `where` and the field."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a 'type'")
    kind = spec.get("type")
    if kind not in CHANNEL_TYPES:
        raise ConfigError(f"{where}.type: expected one of {sorted(CHANNEL_TYPES)}, got {kind!r}")
    return CHANNEL_TYPES[kind](name, spec, where, home, timeout)


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
