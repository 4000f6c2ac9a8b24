"""The alert channel registry: channel name -> class, by dotted path in one setting.

``Settings.alert_channels`` (the built-in email and webhook, plus ARTWATCH_ALERT_CHANNELS)
names each channel's class. A class declares ``artist_field``, the artist document field that
must be set for an artist to be reachable on it: the crawl enqueues one alert per such channel
(``pipelines.store.alerts``, which receives these fields and imports nothing of ours).
``from_settings(settings)`` builds the channel, or returns None when it is off for now (email
without SMTP_URL): its alerts then wait in the outbox. A new channel is one module and one entry.
"""

from __future__ import annotations

import importlib
from typing import Any

from artwatch.alerts.delivery import Channel
from artwatch.settings import Settings
from pipelines.errors import ConfigError

SETTING = "ARTWATCH_ALERT_CHANNELS"


def load_channel(name: str, path: str) -> Any:
    """The class at ``path``; ConfigError naming the setting when it is not a channel class."""
    module, _, attribute = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"{SETTING}: channel {name}: cannot load {path!r}: {error}") from None
    missing = [part for part in ("artist_field", "from_settings", "send") if not hasattr(cls, part)]
    if missing:
        raise ConfigError(f"{SETTING}: channel {name}: {path} has no {', '.join(missing)}")
    return cls


def channel_classes(settings: Settings) -> dict[str, Any]:
    """Channel name -> class, for every configured channel."""
    return {name: load_channel(name, path) for name, path in settings.alert_channels.items()}


def build_channels(settings: Settings) -> dict[str, Channel | None]:
    """Channel name -> a ready channel, or None for one that is off."""
    return {name: cls.from_settings(settings) for name, cls in channel_classes(settings).items()}


def channel_fields(settings: Settings) -> dict[str, str]:
    """Channel name -> the artist field it needs: what the crawl enqueues alerts by."""
    return {name: cls.artist_field for name, cls in channel_classes(settings).items()}
