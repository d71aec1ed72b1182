"""What every `devmetrics` command shares: configuration checked up front, one-line user errors, the
sample key, and running days on the shared instance.

A person's mistake (a wrong path, flag, source name or configuration field) is a `UserError`: the
command prints one line saying what to fix and exits 2, before anything is written. Configuration is
validated before the first write: rules.yaml, sources.yaml (and the rules its sources declare),
alerting.yaml, the environment settings (the instance profile, DEVMETRICS_PROFILE, with its PostgreSQL
variables) and the warehouse (`MONGODB_URI` reachable, DuckDB folder
writable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from devmetrics_assets.config import ConfigError, DoraRules, Settings, load_rules
from devmetrics_assets.sources.registry import SourceSpec, load_sources, merge_rules, sources_path


class UserError(Exception):
    """Something the person can fix; the message is the one line they see."""


@dataclass(frozen=True)
class Checked:
    settings: Settings
    sources: list[SourceSpec]
    rules: DoraRules

    def source(self, name: str) -> SourceSpec:
        for spec in self.sources:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.sources)
        where = sources_path(self.settings)
        origin = f"declared in {where}" if where.exists() else f"the default; no {where}"
        raise UserError(f"unknown source {name!r} (--source); known: {known} ({origin})")


def checked_configuration(*, storage: bool = True) -> Checked:
    """Settings, sources and rules, validated; the warehouse reachable. Raises ConfigError / UserError."""
    from devmetrics_assets.alerting.routing import config_path, load_config
    from devmetrics_assets.clock import utc_now
    from devmetrics_assets.instance_setup import instance_profile

    settings = Settings.from_env()
    instance_profile()  # a bad DEVMETRICS_PROFILE, or production without PostgreSQL, fails here
    utc_now()  # a malformed DEVMETRICS_NOW fails here, in one line
    sources = load_sources(settings=settings)
    rules = merge_rules(load_rules(settings.rules_path), sources)
    load_config(config_path(settings.home), settings.home)
    if storage:
        from devmetrics_assets.storage.selection import StorageUnreachableError, check_reachable

        try:
            check_reachable(settings)
        except StorageUnreachableError as exc:
            raise UserError(str(exc)) from None
    return Checked(settings, sources, rules)


def use_sample_key(settings: Settings, generated: bool = False) -> None:
    """The sample organisation signs its deliveries with a published test key (not a secret).

    Used by `demo`, and by the other commands when the demo's data is what is landed, so that a Bronze
    partition re-materialised later still rejects the planted forged deliveries.
    """
    from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET

    if os.environ.get("GITHUB_WEBHOOK_SECRET"):
        return
    if generated or (settings.home / "sample_org").exists():
        os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
        print("GITHUB_WEBHOOK_SECRET not set: using the sample organisation's published test key")


def user_message(exc: BaseException) -> str | None:
    """The one line for an error a person can fix, or None for a bug (shown with --debug)."""
    from devmetrics_assets.clock import ClockConfigError
    from devmetrics_assets.instance_setup import UiAlreadyRunningError
    from devmetrics_assets.storage.warehouse import NothingMaterializedError, WarehouseLockedError

    if isinstance(exc, UserError | ConfigError | ClockConfigError | NothingMaterializedError |
                  WarehouseLockedError | UiAlreadyRunningError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None
