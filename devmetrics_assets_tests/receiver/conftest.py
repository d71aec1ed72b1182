"""Shared set-up for the receiver tests: four webhook sources (one per provider) and signed requests.

`build(provider, i)` gives a valid delivery; `forge`, `unsign`, `malform`, `strip_required` and
`oversize` turn it into each kind of bad request, signed the way that provider signs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from devmetrics_assets.config import Settings
from devmetrics_assets.sources.registry import SourceSpec, sources_from_mapping

PROVIDERS = ("github", "gitlab", "pagerduty", "generic")
SECRETS = {"GH_SECRET": "gh-s3cret-value-1", "GL_TOKEN": "gl-t0ken-value-2",
           "PD_SECRET": "pd-s3cret-value-3", "GEN_TOKEN": "gen-t0ken-value-4"}
SECRET_OF = {"github": "GH_SECRET", "gitlab": "GL_TOKEN", "pagerduty": "PD_SECRET", "generic": "GEN_TOKEN"}
SOURCE_OF = {"github": "gh", "gitlab": "gl", "pagerduty": "pd", "generic": "gen"}
MAX_BODY = 4096
CREATED = "2025-03-04T10:00:00Z"


@dataclass(frozen=True)
class Delivery:
    provider: str
    headers: dict[str, str]
    body: bytes
    delivery_id: str
    event_type: str

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}/{SOURCE_OF[self.provider]}"


def settings_in(root: Path) -> Settings:
    return Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                    rules_path=root / "rules.yaml", partition_start="2024-12-01")


def webhook_sources(settings: Settings, **options: object) -> list[SourceSpec]:
    entries = [
        {"name": SOURCE_OF[p], "type": "landing_jsonl", "provider": p, "secret_env": SECRET_OF[p],
         "options": {"max_body_bytes": MAX_BODY, **options}}
        for p in PROVIDERS
    ]
    return sources_from_mapping({"sources": entries}, settings=settings)


def _hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign(provider: str, headers: dict[str, str], body: bytes, secret: str | None = None) -> dict[str, str]:
    """Headers carrying `provider`'s authentication for `body` (with the configured secret by default)."""
    secret = secret if secret is not None else SECRETS[SECRET_OF[provider]]
    headers = {k: v for k, v in headers.items()
               if k not in ("X-Hub-Signature-256", "X-Gitlab-Token", "X-PagerDuty-Signature",
                            "Authorization", "X-Signature-256")}
    if provider == "github":
        headers["X-Hub-Signature-256"] = "sha256=" + _hmac(secret, body)
    elif provider == "gitlab":
        headers["X-Gitlab-Token"] = secret
    elif provider == "pagerduty":
        headers["X-PagerDuty-Signature"] = "v1=" + _hmac(secret, body)
    else:
        headers["Authorization"] = f"Bearer {secret}"
    return headers


def _payload(provider: str, i: int, pad: str = "") -> tuple[dict, dict[str, str], str, str]:
    if provider == "github":
        body = {"action": "created", "deployment": {"id": i, "sha": "a" * 40, "environment": "production",
                                                   "created_at": CREATED, "description": pad},
                "repository": {"full_name": "acme/api", "default_branch": "main"}}
        return body, {"X-GitHub-Event": "deployment", "X-GitHub-Delivery": f"gh-{i}"}, f"gh-{i}", "deployment"
    if provider == "gitlab":
        body = {"object_kind": "deployment", "status": "success", "deployment_id": i,
                "environment": "production", "status_changed_at": "2025-03-04 10:00:00 +0000",
                "description": pad}
        headers = {"X-Gitlab-Event": "Deployment Hook", "X-Gitlab-Event-UUID": f"gl-{i}"}
        return body, headers, f"gl-{i}", "Deployment Hook"
    if provider == "pagerduty":
        body = {"event": {"id": f"pd-{i}", "event_type": "incident.triggered", "occurred_at": CREATED,
                          "data": {"id": f"PINC{i}", "type": "incident", "created_at": CREATED,
                                   "title": pad}}}
        return body, {}, f"pd-{i}", "incident.triggered"
    body = {"type": "deployment", "id": f"gen-{i}", "repo": "acme/api", "environment": "production",
            "sha": "b" * 40, "status": "success", "created_at": CREATED,
            "finished_at": "2025-03-04T10:05:00Z", "description": pad or "deploy"}
    return body, {}, f"generic:deployment:gen-{i}:success:2025-03-04T10:05:00Z", "deployment"


def build(provider: str, i: int = 1, pad: str = "") -> Delivery:
    body, headers, delivery_id, event_type = _payload(provider, i, pad)
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", **headers}
    return Delivery(provider, sign(provider, headers, raw), raw, delivery_id, event_type)


def forge(d: Delivery) -> Delivery:
    return replace(d, headers=sign(d.provider, d.headers, d.body, secret="not-the-secret"))


def unsign(d: Delivery) -> Delivery:
    auth = ("X-Hub-Signature-256", "X-Gitlab-Token", "X-PagerDuty-Signature", "Authorization")
    return replace(d, headers={k: v for k, v in d.headers.items() if k not in auth})


def malform(d: Delivery) -> Delivery:
    raw = b'{"action": "created", "deployment": '
    return replace(d, body=raw, headers=sign(d.provider, d.headers, raw))


def strip_required(d: Delivery) -> Delivery:
    """Signed, valid JSON, but without what the provider needs to identify the delivery."""
    if d.provider == "github":
        return replace(d, headers={k: v for k, v in d.headers.items() if k != "X-GitHub-Event"})
    if d.provider == "gitlab":
        return replace(d, headers={k: v for k, v in d.headers.items() if k != "X-Gitlab-Event"})
    body = json.loads(d.body)
    if d.provider == "pagerduty":
        del body["event"]["id"]
    else:
        del body["sha"]
    raw = json.dumps(body).encode()
    return replace(d, body=raw, headers=sign(d.provider, d.headers, raw))


def oversize(provider: str, i: int = 999) -> Delivery:
    """A correctly signed delivery larger than the sources' MAX_BODY."""
    return build(provider, i, pad="x" * MAX_BODY)


def jsonl_lines(path: Path) -> list[str]:
    """The lines of a JSON-lines file, split on "\n" only: str.splitlines() also splits on U+2028, U+0085
    and other characters JSON keeps raw inside strings (the files are written with ensure_ascii=False)."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def landed(settings: Settings, provider: str) -> list[dict]:
    folder = settings.landing_dir / SOURCE_OF[provider]
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in jsonl_lines(path)]


def rejects(settings: Settings) -> list[dict]:
    folder = settings.landing_dir / "_rejects"
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in jsonl_lines(path)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path)
