"""The one reader of the environment, an optional ``.env`` and ``config/sources.yaml``.

Everything else in ArtWatch receives these values: the CLI and the service through
``load_settings()``/``load_sources()``, the crawl through ``crawler/settings.py``, the
pipelines through Scrapy settings. A typo or a wrong type fails here, at start-up, with a
``ConfigError`` naming the key and what was expected.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pipelines.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPIDER_MODULES = ("crawler.spiders",)


@cache
def spider_names() -> tuple[str, ...]:
    """The spiders Scrapy's loader finds in ``SPIDER_MODULES``: a new platform is one file.

    Loading imports every spider module, so it happens on first use and once; the loader gets
    settings of its own because the project's (``crawler/settings.py``) import this module.
    """
    # Imported here: reading the environment alone (every command does) needs no Scrapy.
    from scrapy.settings import Settings as ScrapySettings
    from scrapy.spiderloader import SpiderLoader

    settings = ScrapySettings({"SPIDER_MODULES": list(SPIDER_MODULES)})
    return tuple(sorted(SpiderLoader.from_settings(settings).list()))


def check_spider(name: str) -> str:
    """``name`` if a spider has it; ValueError naming the known spiders otherwise."""
    known = spider_names()
    if name not in known:
        raise ValueError(f"unknown spider {name!r}; expected one of {', '.join(known)}")
    return name


SpiderName = Annotated[str, AfterValidator(check_spider)]

# Alert channels by name (the ``channel`` of an alert) -> the dotted path of their class;
# ARTWATCH_ALERT_CHANNELS is merged over these (``artwatch.alerts.channels``).
ALERT_CHANNELS = {
    "email": "artwatch.alerts.email.EmailChannel",
    "webhook": "artwatch.alerts.webhook.WebhookChannel",
}


class Settings(BaseSettings):
    """Environment settings; each is documented in config/artwatch.env.example."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    mongodb_uri: str | None = None
    artwatch_data_dir: Path = Path("var")
    artwatch_db_name: str = "artwatch"
    artwatch_sources: Path = PROJECT_ROOT / "config" / "sources.yaml"
    artwatch_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    artwatch_public_url: str | None = None
    artwatch_secret_key: SecretStr | None = None
    artwatch_secrets_key: SecretStr | None = None
    artwatch_redis_url: str | None = None
    artwatch_allow_private_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    artwatch_image_maxsize: int = Field(default=25 * 1024 * 1024, gt=0)
    artwatch_fingerprint_workers: int = Field(default=0, ge=0)
    artwatch_shutdown_grace_seconds: float = Field(default=60.0, ge=0)
    artwatch_alert_channels: Annotated[dict[str, str | None], NoDecode] = {}
    smtp_url: SecretStr | None = None
    alert_from: str = "ArtWatch <artwatch@localhost>"
    artwatch_operator_email: str | None = None
    artwatch_operator_webhook: str | None = None
    artwatch_operator_webhook_secret: SecretStr | None = None
    bluesky_handle: str | None = None
    bluesky_app_password: SecretStr | None = None
    reddit_client_id: str | None = None
    reddit_client_secret: SecretStr | None = None
    deviantart_client_id: str | None = None
    deviantart_client_secret: SecretStr | None = None
    civitai_api_key: SecretStr | None = None
    xhs_storage_state: Path | None = None
    weibo_cookie: SecretStr | None = None
    lofter_cookie: SecretStr | None = None

    @field_validator("artwatch_allow_private_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("artwatch_allow_private_hosts")
    @classmethod
    def _check_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if "/" in host:
                ipaddress.ip_network(host, strict=False)  # ValueError names the bad CIDR
        return hosts

    @field_validator("artwatch_alert_channels", mode="before")
    @classmethod
    def _parse_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}  # ValueError names the problem
        return value

    @field_validator("artwatch_alert_channels")
    @classmethod
    def _check_channels(cls, channels: dict[str, str | None]) -> dict[str, str | None]:
        for name, path in channels.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"channel name {name!r} must be lower case letters, digits, _")
            if path and not re.fullmatch(r"\w+(\.\w+)+", path):
                raise ValueError(f"channel {name}: {path!r} is not a dotted path module.Class")
        return channels

    @property
    def alert_channels(self) -> dict[str, str]:
        """Channel name -> dotted path: the defaults, then ARTWATCH_ALERT_CHANNELS (null: off)."""
        merged = {**ALERT_CHANNELS, **self.artwatch_alert_channels}
        return {name: path for name, path in merged.items() if path}

    @field_validator(
        "mongodb_uri",
        "smtp_url",
        "artwatch_public_url",
        "artwatch_secret_key",
        "artwatch_secrets_key",
        "artwatch_redis_url",
        "artwatch_operator_email",
        "artwatch_operator_webhook",
        "artwatch_operator_webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("artwatch_redis_url")
    @classmethod
    def _check_redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL starting with redis://, rediss:// or unix://")
        return url

    @field_validator("mongodb_uri")
    @classmethod
    def _check_mongodb_uri(cls, uri: str | None) -> str | None:
        if uri is not None and not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("expected a URI starting with mongodb:// or mongodb+srv://")
        return uri

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("smtp://", "smtps://")):
            raise ValueError("expected smtp://user:pass@host:port or smtps://user:pass@host:port")
        return url


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(StrictModel):
    """Exactly one of a cron expression (five fields) or an interval in minutes."""

    cron: str | None = None
    interval_minutes: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.cron is None) == (self.interval_minutes is None):
            raise ValueError("give exactly one of 'cron' or 'interval_minutes'")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron {self.cron!r} must have five fields (min hour day month dow)")
        return self


class Politeness(StrictModel):
    """How hard one platform may be hit; every value has a polite default."""

    download_delay: float = Field(default=1.0, ge=0)
    concurrency: int = Field(default=2, ge=1, le=32)


class Platform(Politeness):
    """Defaults a spider uses when a crawl does not pass them as arguments."""

    tags: tuple[str, ...] = ()
    base_urls: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    subreddits: tuple[str, ...] = ()


class Health(StrictModel):
    """What every run of a source must show (``artwatch.health``); broken ``unhealthy_after``
    runs in a row, the source is unhealthy and the operator is told."""

    unhealthy_after: int = Field(default=3, ge=1)
    # Posts the spider understood: yielded, older than the cutoff, or skipped by name.
    min_posts: int = Field(default=1, ge=0)
    min_images: int = Field(default=0, ge=0)
    # Share of listing pages and entries that failed to parse (a renamed field, HTML for JSON).
    max_shape_error_share: float = Field(default=0.2, ge=0, le=1)
    # Share of responses that were HTTP 4xx/5xx or network failures.
    max_http_error_ratio: float = Field(default=0.5, ge=0, le=1)
    finish_reasons: tuple[str, ...] = ("finished",)


class HealthOverrides(StrictModel):
    """A source's own ``health``: the fields it names replace the defaults'."""

    unhealthy_after: int | None = Field(default=None, ge=1)
    min_posts: int | None = Field(default=None, ge=0)
    min_images: int | None = Field(default=None, ge=0)
    max_shape_error_share: float | None = Field(default=None, ge=0, le=1)
    max_http_error_ratio: float | None = Field(default=None, ge=0, le=1)
    finish_reasons: tuple[str, ...] | None = None


class Source(StrictModel):
    """One scheduled crawl: a spider, its arguments and when to run it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    spider: SpiderName
    args: dict[str, str] = {}
    schedule: Schedule
    timeout_minutes: float = Field(default=30, gt=0)
    enabled: bool = True
    health: HealthOverrides = HealthOverrides()


class Alerts(StrictModel):
    dispatch_interval_seconds: int = Field(default=60, ge=5)
    max_attempts: int = Field(default=8, ge=1)
    digest_hour: int = Field(default=8, ge=0, le=23)
    flood_threshold: int = Field(default=20, ge=1)


class Sources(StrictModel):
    """The whole of config/sources.yaml."""

    contact_url: str = "https://github.com/artwatch/artwatch"
    platforms: dict[SpiderName, Platform] = {}
    sources: list[Source] = []
    alerts: Alerts = Alerts()
    health: Health = Health()

    @model_validator(mode="after")
    def _unique_names(self) -> Sources:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def platform(self, spider: str) -> Platform:
        return self.platforms.get(spider, Platform())

    def source(self, name: str) -> Source | None:
        return next((source for source in self.sources if source.name == name), None)

    def health_of(self, name: str) -> Health:
        """The expectations of source ``name``: the defaults, then its own overrides."""
        source = self.source(name)
        own = source.health.model_dump(exclude_none=True) if source else {}
        return self.health.model_copy(update=own)


def _describe(error: ValidationError, where: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    count = error.error_count()
    more = f" (and {count - 1} more problem{'s' * (count > 2)})" if count > 1 else ""
    return f"{where}: {key}: {first['msg']}{more}"


@cache
def load_settings() -> Settings:
    """Read the environment once; raise ConfigError naming the bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "environment"
        raise ConfigError(f"environment variable {variable}: {first['msg']}") from None


def load_sources(path: Path | None = None) -> Sources:
    """Parse and validate sources.yaml; raise ConfigError naming the file and the key."""
    path = path or load_settings().artwatch_sources
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set ARTWATCH_SOURCES)") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {error}") from None
    try:
        return Sources.model_validate(raw or {})
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path))) from None
