"""Landing files of the mixed organisation: envelopes per (provider, received day), as the receiver writes.

`Landing.emit` wraps a body in the landing envelope (docs/contracts.md §6) with the provider's delivery
headers and a received time a few seconds after the event; `write` puts them in
`<root>/<source>/<received day>.jsonl`, sorted by received time. A source is named after its provider,
except `github_hooks` (GitHub pushes of the GitHub-hosted repo, provider `github`: the name `github` is
the recorded sample organisation's): `SOURCE_PROVIDERS` maps every source to its provider.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from random import Random

SOURCES = ("gitlab", "pagerduty", "generic", "github_hooks", "github_actions", "jira", "opsgenie")
SOURCE_PROVIDERS = {source: source for source in SOURCES} | {"github_hooks": "github"}
DAY = 86_400


class Landing:
    """Envelopes per (source, received day); lines sorted by received time when written."""

    def __init__(self, root: Path, start_ts: int, days: int, rng: Random) -> None:
        self.root, self.start_ts, self.end_ts, self.rng = root, start_ts, start_ts + days * DAY, rng
        self.buckets: dict[tuple[str, str], list[tuple[float, int, str]]] = defaultdict(list)
        self.count = 0

    def uuid(self) -> str:
        return _uuid(self.rng)

    def emit(
        self,
        source: str,
        event_type: str,
        body: dict,
        at: float,
        delivery_id: str | None = None,
        *,
        late_s: float = 0.0,
        rng: Random | None = None,
    ) -> str:
        """Emit one envelope; with `rng` (the reviews' own) the landing's random stream is left alone."""
        rng = rng or self.rng
        received = at + rng.uniform(0.5, 4.0) + late_s
        if received >= self.end_ts:
            raise ValueError(f"{source} {event_type} received after the generated range")
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        delivery_id = delivery_id or (self.uuid() if rng is self.rng else _uuid(rng))
        headers = {"Content-Type": "application/json"}
        if source == "gitlab":
            headers |= {"X-Gitlab-Event": event_type, "X-Gitlab-Event-UUID": delivery_id}
        elif source == "pagerduty":
            headers |= {"X-Webhook-Id": delivery_id, "User-Agent": "PagerDuty-Webhook/V3.0"}
        elif SOURCE_PROVIDERS[source] in ("github", "github_actions"):
            headers |= {"X-GitHub-Event": event_type, "X-GitHub-Delivery": delivery_id}
        elif source == "jira":
            headers |= {"X-Atlassian-Webhook-Identifier": delivery_id}
        envelope = {
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(received))
            + f".{int(received % 1 * 1e6):06d}Z",
            "delivery_id": delivery_id,
            "provider": SOURCE_PROVIDERS[source],
            "event_type": event_type,
            "signature_status": "verified",
            "headers": headers,
            "body_raw": text,
        }
        day = time.strftime("%Y-%m-%d", time.gmtime(received))
        self.buckets[(source, day)].append(
            (received, self.count, json.dumps(envelope, separators=(",", ":")))
        )
        self.count += 1
        return delivery_id

    def write(self) -> None:
        """Write every day file; stale day files of an earlier generation in these folders are removed."""
        for source in SOURCES:
            for stale in (self.root / source).glob("????-??-??.jsonl"):
                stale.unlink()
        for (source, day), lines in sorted(self.buckets.items()):
            folder = self.root / source
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{day}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(line + "\n" for _, _, line in sorted(lines))


def _uuid(rng: Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"
