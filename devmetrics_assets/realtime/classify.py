"""Which stored deliveries matter NOW: each provider's real-time rules (`Provider.classifier`), dispatched.

Events are judged in the order they are stored (a late delivery is judged when it arrives). A provider
without real-time rules passes through untouched (today only GitHub has them: providers/github/realtime.py).
"""

from __future__ import annotations

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.providers.interface import Classifier as ProviderClassifier
from devmetrics_assets.realtime.delivery import Delivery
from devmetrics_assets.realtime.state import WatcherState

__all__ = ["Classifier", "Delivery"]


class Classifier:
    """Turns deliveries into notifications through their provider's classifier, sharing one watcher state."""

    def __init__(self, rules: DoraRules, state: WatcherState) -> None:
        self.rules = rules
        self.state = state
        self.by_provider: dict[str, ProviderClassifier] = {
            name: provider.classifier(rules, state)
            for name, provider in PROVIDERS.items() if provider.classifier is not None
        }

    def classify(self, d: Delivery, *, quiet: bool = False) -> list[Notification]:
        """Notifications for one delivery; `quiet` only updates the provider's state (bootstrap from
        history: nothing is alerted and no problem is opened)."""
        found = self.by_provider.get(d.provider)
        return found.classify(d, quiet=quiet) if found else []
