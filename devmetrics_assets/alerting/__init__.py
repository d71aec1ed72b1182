"""Alerting: notifications about data problems and about events that matter now."""
