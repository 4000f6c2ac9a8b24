"""Shared fixtures: one real nx-27017 server per test run, one database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from artwatch.embedded import EmbeddedMongo
from pipelines.store.sync import Store


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongo"))
    yield server.start()
    server.stop()


@pytest.fixture
def db_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(mongo_uri: str, db_name: str) -> Iterator[Store]:
    with Store(mongo_uri, db_name) as opened:
        yield opened
