"""Verification never silently downgrades: refused without the secret, explicit with --no-verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.sources.verification import decide


def spec(type_: str = "github_jsonl", secret_env: str | None = "GITHUB_WEBHOOK_SECRET") -> SourceSpec:
    return SourceSpec(name="github", type=type_, provider="github", landing_dir=Path("/x"),
                      secret_env=secret_env, description="")


def test_with_the_secret_signatures_are_verified() -> None:
    decision = decide(spec(), has_secret=True, no_verify=False, was_verified=False)
    assert decision.verify and decision.refusal is None and decision.mode == "on"


@pytest.mark.parametrize(("secret_env", "was_verified", "why"), [
    ("GITHUB_WEBHOOK_SECRET", False, "declares secret_env GITHUB_WEBHOOK_SECRET, which is not set"),
    (None, True, "was verified before and has no secret_env now"),
])
def test_without_the_secret_a_verified_source_is_refused_in_one_line(secret_env, was_verified, why) -> None:
    decision = decide(spec(secret_env=secret_env), has_secret=False, no_verify=False,
                      was_verified=was_verified)
    assert decision.refusal is not None and why in decision.refusal and "\n" not in decision.refusal
    assert "--no-verify" in decision.refusal


def test_no_verify_is_a_visible_downgrade_and_a_source_without_secrets_is_unchecked() -> None:
    forced = decide(spec(), has_secret=True, no_verify=True, was_verified=True)
    assert not forced.verify and forced.downgraded and forced.refusal is None
    plain = decide(spec(secret_env=None), has_secret=False, no_verify=False, was_verified=False)
    assert not plain.verify and not plain.downgraded and plain.refusal is None


def test_receiver_day_files_carry_their_verdict_and_api_pulls_have_no_signature() -> None:
    landing = decide(spec("landing_jsonl"), has_secret=False, no_verify=False, was_verified=True,
                     has_recorded_imports=False)
    assert landing.refusal is None and not landing.downgraded
    imports = decide(spec("landing_jsonl"), has_secret=False, no_verify=False, was_verified=True,
                     has_recorded_imports=True)
    assert imports.refusal is not None
    assert decide(spec("github_api"), has_secret=False, no_verify=False, was_verified=True).refusal is None
