"""Demonstration and measurement code, kept apart from the runtime.

`sample_org` generates a deterministic organisation (webhook deliveries, rules and ground truth) for
`devmetrics demo`, the tests and the benchmarks; `bench` measures the receiver's throughput and the
watcher's alert latency. Nothing outside this package and the command line (`devmetrics demo`,
`devmetrics replay`) may import it: the runtime must not depend on its own sample data
(devmetrics_assets_tests/demo/test_demo_is_apart.py enforces this). It still ships in the wheel so
`devmetrics demo` works from an installed package.
"""
