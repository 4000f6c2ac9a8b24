"""Settings and sources.yaml: defaults load, and every mistake names its key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from artwatch.settings import PROJECT_ROOT, Settings, load_sources
from pipelines.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_shipped_sources_file_is_valid():
    sources = load_sources(PROJECT_ROOT / "config" / "sources.yaml")
    assert "mastodon" in sources.platforms
    assert {source.spider for source in sources.sources} <= set(sources.platforms)


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "sources:\n  - name: a\n   spider: [mastodon\n")
    with pytest.raises(ConfigError, match=r"sources\.yaml: not valid YAML at line \d+"):
        load_sources(path)


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, "platforms:\n  mastodon:\n    tagz: [aiart]\n")
    with pytest.raises(ConfigError, match=r"platforms\.mastodon\.tagz: Extra inputs"):
        load_sources(path)


def test_wrong_type_is_named_with_what_was_expected(tmp_path):
    text = "sources:\n  - name: m\n    spider: mastodon\n    schedule: {interval_minutes: soon}\n"
    with pytest.raises(ConfigError, match=r"sources\.0\.schedule\.interval_minutes: .*number"):
        load_sources(write(tmp_path, text))


def test_unknown_spider_and_bad_schedule_are_refused(tmp_path):
    text = "sources:\n  - name: m\n    spider: myspace\n    schedule: {cron: '* *'}\n"
    with pytest.raises(ConfigError, match=r"sources\.0\.spider"):
        load_sources(write(tmp_path, text))
    text = "sources:\n  - name: m\n    spider: rss\n    schedule: {cron: '* *'}\n"
    with pytest.raises(ConfigError, match="five fields"):
        load_sources(write(tmp_path, text))


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="ARTWATCH_SOURCES"):
        load_sources(tmp_path / "absent.yaml")


def test_allowed_private_hosts_split_on_commas(monkeypatch):
    monkeypatch.setenv("ARTWATCH_ALLOW_PRIVATE_HOSTS", "127.0.0.1, 10.0.0.0/8,")
    assert Settings().artwatch_allow_private_hosts == ("127.0.0.1", "10.0.0.0/8")


def test_bad_cidr_and_bad_uri_are_refused(monkeypatch):
    monkeypatch.setenv("ARTWATCH_ALLOW_PRIVATE_HOSTS", "10.0.0.0/33")
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        Settings()
    monkeypatch.delenv("ARTWATCH_ALLOW_PRIVATE_HOSTS")
    monkeypatch.setenv("MONGODB_URI", "localhost:27017")
    with pytest.raises(ValueError, match="mongodb://"):
        Settings()


def test_every_setting_is_documented_in_the_env_example():
    example = (PROJECT_ROOT / "config" / "artwatch.env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} == documented
