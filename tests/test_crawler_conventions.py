"""Conventions every spider keeps: name = module, replay fixtures, listed by `scrapy list`;
and the spider registry: sources.yaml and `artwatch crawl` know exactly the loader's names."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import crawler.spiders
from artwatch import settings as config
from artwatch.settings import check_spider, load_sources, spider_names
from crawler.spiders.base import PlatformSpider
from pipelines.errors import ConfigError
from tests.replay import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(crawler.spiders.__path__) if name != "base"
)


def _spider(module_name: str) -> type[PlatformSpider]:
    module = importlib.import_module(f"crawler.spiders.{module_name}")
    (spider,) = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, PlatformSpider)
        and obj.__module__ == module.__name__
    ]
    return spider


def test_the_spider_registry_is_exactly_the_spider_modules():
    assert sorted(spider_names()) == MODULES


def test_sources_accept_exactly_the_registered_spiders(tmp_path):
    path = tmp_path / "sources.yaml"
    platforms = "".join(f"  {name}: {{tags: [aiart]}}\n" for name in spider_names())
    path.write_text(f"platforms:\n{platforms}")
    assert sorted(load_sources(path).platforms) == MODULES
    path.write_text("platforms:\n  myspace: {tags: [aiart]}\n")
    with pytest.raises(ConfigError, match=r"platforms\.myspace.*unknown spider 'myspace'") as e:
        load_sources(path)
    assert ", ".join(MODULES) in str(e.value), "the message lists the known spiders"


NEW_SPIDER = """
from crawler.spiders.base import PlatformSpider


class NewPlatformSpider(PlatformSpider):
    name = "newplatform"
    default_base_url = "https://new.example"
"""


def test_a_spider_added_as_one_file_is_known_everywhere(tmp_path, monkeypatch):
    package = tmp_path / "more_spiders"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "newplatform.py").write_text(NEW_SPIDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(config, "SPIDER_MODULES", (*config.SPIDER_MODULES, "more_spiders"))
    spider_names.cache_clear()
    try:
        assert check_spider("newplatform") == "newplatform"
        source = "sources:\n  - {name: n, spider: newplatform, schedule: {cron: '0 * * * *'}}\n"
        (tmp_path / "sources.yaml").write_text(source)
        assert load_sources(tmp_path / "sources.yaml").sources[0].spider == "newplatform"
    finally:
        monkeypatch.undo()
        spider_names.cache_clear()
    with pytest.raises(ValueError, match="unknown spider 'newplatform'; expected one of"):
        check_spider("newplatform")


@pytest.mark.parametrize("module_name", MODULES)
def test_spider_name_is_its_module_and_it_has_a_default_base_url(module_name):
    spider = _spider(module_name)
    assert spider.name == module_name
    assert spider.default_base_url.startswith("https://")


@pytest.mark.parametrize("module_name", MODULES)
def test_spider_takes_the_contract_arguments(module_name):
    spider = _spider(module_name)(
        tags="AIart", base_url="http://127.0.0.1:8", max_pages="2", since="2026-01-31"
    )
    assert spider.tags == ["aiart"]
    assert spider.base_urls == ["http://127.0.0.1:8"]
    assert spider.max_pages == 2
    assert spider.since.isoformat() == "2026-01-31T00:00:00+00:00"


@pytest.mark.parametrize("module_name", MODULES)
def test_spider_has_replay_cases_with_expected_output(module_name):
    cases = [p.parent for p in (FIXTURES / module_name).glob("*/index.json")]
    assert any((case / "expected.json").is_file() for case in cases), (
        f"tests/fixtures/{module_name}/ has no case folder with index.json and expected.json"
    )
    for case in cases:
        assert (case / "README.md").is_file(), f"{case} has no README.md (source, license)"


def test_scrapy_list_names_every_spider():
    listed = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert sorted(listed) == MODULES
