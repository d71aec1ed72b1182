"""Benchmark helpers: `receiver_throughput` (signed deliveries through the real receiver) and
`alert_latency` (a Bronze append to its notification through the real watcher)."""
