"""Deterministic sample organisation: GitHub webhook deliveries plus the ground truth they imply.

`generate_sample_org(out_dir)` writes `deliveries/<day>.jsonl`, `rules.yaml` and `truth/` (see
docs/contracts.md §1, §2, §5). The deliveries are signed with `SAMPLE_WEBHOOK_SECRET`.
"""

from .generator import SampleOrg, generate_sample_org, rules_mapping, run_generation
from .payloads import SAMPLE_WEBHOOK_SECRET

__all__ = ["SAMPLE_WEBHOOK_SECRET", "SampleOrg", "generate_sample_org", "rules_mapping", "run_generation"]
