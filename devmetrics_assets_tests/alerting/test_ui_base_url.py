"""Notification links point at the UI's real address: DEVMETRICS_UI_URL, else alerting.yaml's
`ui_base_url`, else http://127.0.0.1:3000; checked through a real sensor tick and a real local receiver."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.alerting.routing import UI_URL_ENV, config_from_mapping, load_config
from devmetrics_assets.alerting.sensors import notification_sensors
from devmetrics_assets.config import ConfigError
from devmetrics_assets_tests.alerting.test_sensors import STATE, Ticker, run, toy_silver


def test_the_environment_wins_over_the_file_which_wins_over_the_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(UI_URL_ENV, raising=False)
    assert load_config(tmp_path / "missing.yaml", tmp_path).ui_base_url == "http://127.0.0.1:3000"
    configured = config_from_mapping({"ui_base_url": "https://dagster.example.com/"}, home=tmp_path)
    assert configured.ui_base_url == "https://dagster.example.com" and configured.ui_base_url_set
    assert config_from_mapping({"ui_base_url": None}, home=tmp_path).ui_base_url is None  # no links
    assert not config_from_mapping({}, home=tmp_path).ui_base_url_set

    monkeypatch.setenv(UI_URL_ENV, "http://127.0.0.1:3105/")
    assert load_config(tmp_path / "missing.yaml", tmp_path).ui_base_url == "http://127.0.0.1:3105"
    assert config_from_mapping({"ui_base_url": "https://x.example"}, home=tmp_path).ui_base_url == (
        "http://127.0.0.1:3105")
    monkeypatch.setenv(UI_URL_ENV, "127.0.0.1:3105")
    with pytest.raises(ConfigError, match=UI_URL_ENV):
        load_config(None, tmp_path)
    monkeypatch.delenv(UI_URL_ENV)
    with pytest.raises(ConfigError, match="ui_base_url"):
        config_from_mapping({"ui_base_url": "dagster.example.com"}, home=tmp_path)


def test_a_check_failure_links_to_the_configured_ui(tmp_path: Path, http_receiver, monkeypatch) -> None:
    STATE.update(schema_ok=False, volume_ok=False, gold_raises=False)
    monkeypatch.setenv(UI_URL_ENV, "http://127.0.0.1:3105")  # what `devmetrics ui --port 3105` sets
    (tmp_path / "alerting.yaml").write_text(yaml.safe_dump(
        {"channels": {"hook": {"type": "webhook", "url": http_receiver.url("/hook")}},
         "default_channels": ["hook"]}))
    sensors = {s.name: s for s in notification_sensors(
        lambda: build_notifier(tmp_path / "alerting.yaml", tmp_path))}
    defs = dg.Definitions(assets=[toy_silver], sensors=list(sensors.values()))
    with dg.instance_for_test() as instance:
        checks = Ticker(instance, defs, sensors["alerting_asset_checks"])
        checks.tick()
        result = run(instance, toy_silver)
        checks.tick()
        received = http_receiver.wait_for(2)
    links = [r.json["details"]["links"] for r in received]
    assert links and all(link["asset"] == "http://127.0.0.1:3105/assets/toy_silver?view=checks"
                         for link in links)
    assert {link["run"] for link in links} == {f"http://127.0.0.1:3105/runs/{result.run_id}"}
