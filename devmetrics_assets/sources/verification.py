"""Whether a Bronze load verifies signatures, is refused, or deliberately downgrades: one decision.

Verification must never silently downgrade. A source that declares a secret (`secret_env`) or was ever
verified (a verified delivery in Bronze, or one quarantined for its signature) is loaded only with its
secret. Without it the load is refused with one line that says what to set, unless the person asked
for `--no-verify`: then the deliveries are stored `unchecked`, the blocking `signature_verification`
check fails (so automation does not carry them into Silver and Gold) and the notifier says so. Even
then a delivery already quarantined as forged stays in quarantine (defs/bronze.py).

Webhook landing files (`landing_jsonl` day files) carry the receiver's verdict, so they need no secret;
their recorded imports do. API pulls carry no webhook signature at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from devmetrics_assets.sources.registry import API_TYPES, SourceSpec

NO_VERIFY_TAG = "devmetrics/no-verify"  # run tag set by `devmetrics load --no-verify`


@dataclass(frozen=True)
class VerificationDecision:
    verify: bool  # check signatures with the secret
    downgraded: bool  # loading unverified although the source is one that is verified
    refusal: str | None  # why the load must not run (None: it may)

    @property
    def mode(self) -> str:
        if self.verify:
            return "on"
        return "off (--no-verify)" if self.downgraded else "off"


def decide(spec: SourceSpec, *, has_secret: bool, no_verify: bool, was_verified: bool,
           has_recorded_imports: bool = True) -> VerificationDecision:
    """The verification decision for one Bronze load of `spec`."""
    if spec.type in API_TYPES:
        return VerificationDecision(verify=False, downgraded=False, refusal=None)
    if spec.type == "landing_jsonl" and not has_recorded_imports:
        return VerificationDecision(verify=has_secret, downgraded=False, refusal=None)
    if has_secret and not no_verify:
        return VerificationDecision(verify=True, downgraded=False, refusal=None)
    expects = bool(spec.secret_env) or was_verified
    if not expects:
        return VerificationDecision(verify=False, downgraded=False, refusal=None)
    if no_verify:
        return VerificationDecision(verify=False, downgraded=True, refusal=None)
    return VerificationDecision(verify=False, downgraded=False, refusal=refusal_message(spec, was_verified))


def refusal_message(spec: SourceSpec, was_verified: bool) -> str:
    why = (f"declares secret_env {spec.secret_env}, which is not set" if spec.secret_env
           else "was verified before and has no secret_env now")
    return (f"source {spec.name!r} {why}: set it to verify signatures, or load with --no-verify to store the "
            "deliveries unverified (a failed blocking check and a notification say so)"
            + ("" if not was_verified else "; deliveries quarantined as forged stay quarantined"))
