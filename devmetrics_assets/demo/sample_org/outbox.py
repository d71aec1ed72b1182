"""Delivery-level behaviour of the webhook stream: ids, signatures, lateness, redelivery, forgery.

The simulation hands over (event type, event time, anchor time, body); the outbox decides when the
delivery is received, signs it, and keeps the envelope line in a bucket per received day. A day's
file is written as soon as no later simulation step can add to it, so memory holds only a few days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from .model import OrgModel, utc_day
from .payloads import SAMPLE_WEBHOOK_SECRET, body_text, envelope_line, sign

DAY_S = 86_400
MIN_LATE = 3  # at least this many late deliveries and redeliveries, even for tiny orgs


class Outbox:
    """Signs and buckets deliveries by received day; writes `deliveries/<day>.jsonl` files."""

    def __init__(
        self,
        model: OrgModel,
        rng: Random,
        deliveries_dir: Path,
        *,
        p_late: float = 0.01,
        p_redeliver: float = 0.012,
    ) -> None:
        self.model = model
        self.rng = rng
        self.dir = deliveries_dir
        self.p_late = p_late
        self.p_redeliver = p_redeliver
        self.start_ts = model.start_ts
        self.end_ts = model.end_ts
        self.buckets: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        self.seq = 0
        self.count = 0
        self.flushed_through = -1

    # ------------------------------------------------------------------ ids and buckets
    def _guid(self) -> str:
        """Deterministic GUID in GitHub's X-GitHub-Delivery format."""
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def _put(self, received_us: int, line: str) -> None:
        day = (received_us // 1_000_000 - self.start_ts) // DAY_S
        if day <= self.flushed_through or day >= self.model.days:
            raise ValueError(f"delivery received outside open days: day index {day}")
        self.seq += 1
        self.buckets[day].append((received_us, self.seq, line))

    # ------------------------------------------------------------------ emission
    def emit(self, event_type: str, event_ts: int, anchor_ts: int, body: dict[str, Any]) -> str:
        """Emit a genuine delivery; it may arrive late and may be redelivered."""
        if not self.start_ts <= event_ts < self.end_ts - 30:
            raise ValueError(f"event time {event_ts} outside the generated range")
        text = body_text(body)
        signature = sign(text)
        delivery_id = self._guid()
        rng = self.rng
        received_us = event_ts * 1_000_000 + rng.randint(80_000, 3_500_000)
        room_s = self.end_ts - 1 - event_ts
        late_wanted = rng.random() < self.p_late or (
            len(self.model.late_deliveries) < MIN_LATE and self.seq % 41 == 7
        )
        if late_wanted and room_s > DAY_S + 120:
            lateness_s = rng.randint(DAY_S + 60, min(5 * DAY_S, room_s - 60))
            received_us = event_ts * 1_000_000 + lateness_s * 1_000_000 + rng.randint(0, 999_999)
            self.model.late_deliveries.append(
                {
                    "delivery_id": delivery_id,
                    "event_type": event_type,
                    "anchor_day": utc_day(anchor_ts),
                    "received_day": utc_day(received_us // 1_000_000),
                    "lateness_h": round((received_us / 1_000_000 - event_ts) / 3600, 3),
                }
            )
        self._put(received_us, envelope_line(received_us, delivery_id, event_type, signature, text))
        self.count += 1
        redeliver_wanted = rng.random() < self.p_redeliver or (
            len(self.model.redelivered_delivery_ids) < MIN_LATE and self.seq % 43 == 11
        )
        if redeliver_wanted:
            again_us = received_us + rng.randint(60, 8 * 3600) * 1_000_000
            if again_us < (self.end_ts - 1) * 1_000_000:
                self._put(again_us, envelope_line(again_us, delivery_id, event_type, signature, text))
                self.count += 1
                self.model.redelivered_delivery_ids.append(delivery_id)
        return delivery_id

    def open_from(self) -> int:
        """The earliest event time a delivery may still have (its received day not yet written)."""
        return self.start_ts + (self.flushed_through + 1) * DAY_S

    def emit_on_time(self, event_type: str, event_ts: int, body: dict[str, Any], rng: Random) -> str:
        """Emit a genuine delivery received a few seconds after it happened, never late nor redelivered.

        It draws only from `rng` and leaves the outbox's own random stream and sequence alone, so adding
        such deliveries (the reviews) changes nothing else the seed decides.
        """
        if not max(self.start_ts, self.open_from()) <= event_ts < self.end_ts - 30:
            raise ValueError(f"event time {event_ts} outside the open days")
        text = body_text(body)
        h = f"{rng.getrandbits(128):032x}"
        delivery_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"
        received_us = event_ts * 1_000_000 + rng.randint(80_000, 3_500_000)
        day = (received_us // 1_000_000 - self.start_ts) // DAY_S
        line = envelope_line(received_us, delivery_id, event_type, sign(text), text)
        self.buckets[day].append((received_us, self.seq, line))
        self.count += 1
        return delivery_id

    def emit_forged(
        self,
        event_type: str,
        event_ts: int,
        body: dict[str, Any],
        tamper: Callable[[dict[str, Any]], None] | None = None,
    ) -> str | None:
        """Emit a delivery whose signature does not verify with the real secret.

        With `tamper`, the body is signed correctly and then altered (a man-in-the-middle edit);
        otherwise it is signed with a wrong secret. Either way a verifying loader must reject it.
        """
        if not self.start_ts <= event_ts < self.end_ts - 30:
            return None
        text = body_text(body)
        if tamper is None:
            signature = sign(text, "not-" + SAMPLE_WEBHOOK_SECRET)
        else:
            signature = sign(text)
            tamper(body)
            text = body_text(body)
        delivery_id = self._guid()
        received_us = event_ts * 1_000_000 + self.rng.randint(80_000, 3_500_000)
        self._put(received_us, envelope_line(received_us, delivery_id, event_type, signature, text))
        self.count += 1
        self.model.forged_delivery_ids.append(delivery_id)
        return delivery_id

    # ------------------------------------------------------------------ writing
    def flush_through(self, day_index: int) -> None:
        """Write every received day up to `day_index`; nothing may be received on them afterwards."""
        for day in range(self.flushed_through + 1, min(day_index, self.model.days - 1) + 1):
            rows = self.buckets.pop(day, [])
            rows.sort()
            name = utc_day(self.start_ts + day * DAY_S)
            with open(self.dir / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(line + "\n" for _, _, line in rows)
            self.flushed_through = day


# ---------------------------------------------------------------------- what the simulations share
@dataclass
class Counters:
    """Organisation-wide GitHub ids (deployments, statuses, comments... are global on GitHub)."""

    deployment: int = 1_400_000_000
    status: int = 2_700_000_000
    comment: int = 2_300_000_000
    issue: int = 2_500_000_000
    pull: int = 1_900_000_000
    review: int = 1_600_000_000  # drawn with the reviews' own Random (reviews.py)

    def take(self, kind: str, rng: Random) -> int:
        value = getattr(self, kind) + rng.randint(1, 40)
        setattr(self, kind, value)
        return value


@dataclass
class SimContext:
    """What all repo simulations share."""

    out: Outbox
    counters: Counters
    start_ts: int
    end_ts: int

    @property
    def hard_end(self) -> int:
        # Clock-driven work must finish well before the range ends (nothing is received after it).
        return self.end_ts - 2 * 3600
