"""Exponential backoff with full jitter, the one retry schedule of the project's short-lived stores.

The DuckDB warehouse retries opening a file another process has locked, and the alerting outbox
retries a notification its channel refused. Both wait uniform(0, min(maximum, base * 2**(n-1))) after
the n-th consecutive failure ("full jitter"): the cap grows exponentially so a long outage is not
hammered, and the uniform draw spreads competing retriers apart instead of letting them collide
again in lock step. Keeping the formula here keeps both schedules, and their documentation, the same.
"""

from __future__ import annotations

import random


def full_jitter(failures: int, base: float, maximum: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `failures`-th consecutive failure (1 = the first); `rng` defaults to
    the module-level generator."""
    cap = min(maximum, base * 2 ** max(0, failures - 1))
    uniform = random.uniform if rng is None else rng.uniform
    return uniform(0.0, cap)
