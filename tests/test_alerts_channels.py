"""The channel registry: a channel named by dotted path in ARTWATCH_ALERT_CHANNELS gets its
alerts enqueued by ``record_hit`` and sent by the real dispatcher; ``from_settings`` -> None
leaves them waiting; a bad path is a ConfigError naming the setting."""

from __future__ import annotations

import logging

import pytest

from artwatch.alerts.channels import build_channels, channel_fields
from artwatch.alerts.dispatcher import Dispatcher
from artwatch.settings import Alerts, Settings
from pipelines.errors import ConfigError
from pipelines.store.alerts import CHANNEL_FIELDS
from tests.alerts_support import add_artist, add_artwork, add_hit, statuses

PAGER = "tests.test_alerts_channels.PagerChannel"


class PagerChannel:
    """A channel only these tests know: it records what it was asked to send."""

    name = "pager"
    artist_field = "pager_number"
    enabled = True
    sent: list = []

    @classmethod
    def from_settings(cls, settings: Settings) -> PagerChannel | None:
        return cls() if cls.enabled else None

    def send(self, delivery) -> None:
        self.sent.append((delivery.alert_id, delivery.artist["pager_number"], delivery.entries))


@pytest.fixture
def pager(monkeypatch):
    monkeypatch.setattr(PagerChannel, "sent", [])
    return PagerChannel


def settings_with_pager() -> Settings:
    # SMTP_URL unset: email is off, its alerts wait; webhook removed by null.
    return Settings(
        _env_file=None, smtp_url=None, artwatch_alert_channels={"pager": PAGER, "webhook": None}
    )


def hit_for_pager_artist(store, settings: Settings) -> str:
    store.alert_channels = channel_fields(settings)  # as artwatch.context.open_store does
    artist = add_artist(store, pager_number="+44 20 7946 0000")
    return add_hit(store, artist, add_artwork(store, artist))


def test_a_channel_registered_by_dotted_path_receives_its_alerts(store, pager):
    settings = settings_with_pager()
    assert channel_fields(settings) == {"email": "email", "pager": "pager_number"}
    hit_id = hit_for_pager_artist(store, settings)
    assert statuses(store) == {f"{hit_id}/email": "pending", f"{hit_id}/pager": "pending"}

    outcomes = Dispatcher.from_settings(store, settings, Alerts()).run_pass()
    assert outcomes == {"sent": 1}
    assert statuses(store) == {f"{hit_id}/email": "pending", f"{hit_id}/pager": "sent"}
    [(_, number, entries)] = pager.sent
    assert number == "+44 20 7946 0000" and [entry.hit_id for entry in entries] == [hit_id]


def test_from_settings_returning_none_turns_the_channel_off(store, pager, monkeypatch, caplog):
    monkeypatch.setattr(PagerChannel, "enabled", False)
    settings = settings_with_pager()
    assert build_channels(settings) == {"email": None, "pager": None}
    hit_id = hit_for_pager_artist(store, settings)
    with caplog.at_level(logging.WARNING, logger="artwatch.alerts"):
        assert Dispatcher.from_settings(store, settings, Alerts()).run_pass() == {}
    assert pager.sent == []
    assert statuses(store) == {f"{hit_id}/email": "pending", f"{hit_id}/pager": "pending"}
    assert "1 pager alerts wait in the outbox" in caplog.text


def test_the_setting_is_read_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("ARTWATCH_ALERT_CHANNELS", f'{{"pager": "{PAGER}", "email": null}}')
    assert Settings(_env_file=None).alert_channels == {
        "webhook": "artwatch.alerts.webhook.WebhookChannel",
        "pager": PAGER,
    }
    monkeypatch.setenv("ARTWATCH_ALERT_CHANNELS", "")
    assert set(Settings(_env_file=None).alert_channels) == {"email", "webhook"}
    monkeypatch.setenv("ARTWATCH_ALERT_CHANNELS", "{pager: nope}")
    with pytest.raises(ValueError, match="artwatch_alert_channels"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("tests.no_such_module.Channel", "cannot load"),
        ("tests.test_alerts_channels.NoSuchChannel", "cannot load"),
        ("collections.OrderedDict", "has no artist_field, from_settings, send"),
    ],
)
def test_a_bad_dotted_path_is_a_config_error_naming_the_setting(path, why):
    settings = Settings(_env_file=None, artwatch_alert_channels={"pager": path})
    with pytest.raises(ConfigError, match=f"ARTWATCH_ALERT_CHANNELS: channel pager: .*{why}"):
        build_channels(settings)


def test_the_built_in_channels_need_the_fields_a_store_uses_by_default():
    # The crawl and the service pass channel_fields(settings); a store nobody configured
    # (tests, benchmarks) falls back to CHANNEL_FIELDS, which must say the same.
    assert channel_fields(Settings(_env_file=None)) == dict(CHANNEL_FIELDS)


def test_the_crawl_enqueues_by_the_channel_fields_in_its_settings(mongo_uri, db_name):
    from scrapy.utils.test import get_crawler

    from crawler import settings as crawl_settings
    from pipelines.store.aio import AsyncStore

    assert dict(CHANNEL_FIELDS) == crawl_settings.ARTWATCH_ALERT_CHANNELS
    fields = {"email": "email", "pager": "pager_number"}
    crawler = get_crawler(
        settings_dict={
            "ARTWATCH_MONGODB_URI": mongo_uri,
            "ARTWATCH_DB_NAME": db_name,
            "ARTWATCH_ALERT_CHANNELS": fields,
        }
    )
    assert AsyncStore.for_crawler(crawler).alert_channels == fields
