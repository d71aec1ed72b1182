"""`python -m devmetrics_assets.cli ...` is `devmetrics ...`."""

from devmetrics_assets.cli import main

raise SystemExit(main())
