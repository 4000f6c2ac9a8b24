"""Conventions every spider keeps: name = module, replay fixtures, listed by `scrapy list`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import crawler.spiders
from artwatch.settings import SPIDER_NAMES
from crawler.spiders.base import PlatformSpider
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


def test_every_platform_of_the_design_has_a_spider_module():
    assert set(SPIDER_NAMES) <= set(MODULES)


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
