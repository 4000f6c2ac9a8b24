"""Source health with real crawl processes: a platform that renames its fields turns the source
unhealthy after the configured number of runs, the operator hears of it once by email and
webhook (real aiosmtpd and HTTP receiver), and once more when it recovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artwatch.crawls import Crawl, CrawlRunner
from artwatch.health import broken_expectations
from artwatch.settings import Health, Settings
from pipelines.store.sync import Store
from tests.alerts_support import SECRET
from tests.crawlcase import CrawlReplayServer, MastodonCase, jpeg, portfolio_image

pytest_plugins = ["tests.alerts_servers"]
SOURCE = "masto"
RENAMED = {"id": "status_id", "account": "user", "media_attachments": "media"}


def _cases(tmp_path: Path) -> tuple[Path, Path]:
    """The same two statuses as the platform serves them, and after it renamed three fields."""
    case = MastodonCase()
    for seed in (1, 2):
        case.add_status([case.add_file(f"{seed}.jpg", jpeg(portfolio_image(seed)))])
    # Image requests obey robots.txt (the crawl's own project settings).
    robots = {"path": "/robots.txt", "headers": {"Content-Type": "text/plain"}, "body": ""}
    case.routes.append(robots)
    good = case.write(tmp_path / "good")
    broken = case.write(tmp_path / "broken")
    page = json.loads((broken / "page0.json").read_text())
    renamed = [{RENAMED.get(key, key): value for key, value in s.items()} for s in page]
    (broken / "page0.json").write_text(json.dumps(renamed))
    return good, broken


def _settings(tmp_path: Path, mongo_uri: str, db_name: str, smtp_port: int, hook: str):
    config = {
        "sources": [
            {
                "name": SOURCE,
                "spider": "mastodon",
                "schedule": {"interval_minutes": 60},
                "health": {"unhealthy_after": 2},
            }
        ]
    }
    (tmp_path / "sources.yaml").write_text(json.dumps(config))
    return Settings(
        mongodb_uri=mongo_uri,
        artwatch_db_name=db_name,
        artwatch_data_dir=tmp_path / "data",
        artwatch_sources=tmp_path / "sources.yaml",
        artwatch_allow_private_hosts="127.0.0.1",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        artwatch_operator_email="ops@example.org",
        artwatch_operator_webhook=hook,
        artwatch_operator_webhook_secret=SECRET,
    )


def test_renamed_fields_make_the_source_unhealthy_and_the_operator_is_told_once(
    tmp_path: Path, mongo_uri: str, db_name: str, store: Store, smtp, receiver
) -> None:
    inbox, port = smtp
    settings = _settings(tmp_path, mongo_uri, db_name, port, receiver.url)
    runner = CrawlRunner(store, settings)
    good, broken = _cases(tmp_path)

    def crawl(case: Path) -> None:
        with CrawlReplayServer(case) as server:
            args = {"tags": "aiart", "base_url": server.base}
            outcome = runner.run(Crawl(SOURCE, "mastodon", args, timeout_seconds=120))
        assert server.unexpected == []
        assert outcome.status == "finished"  # the crawl itself never notices

    crawl(broken)
    assert store.source_health(SOURCE)["state"] == "healthy"
    assert inbox.messages == [] and receiver.deliveries == []
    crawl(broken)
    record = store.source_health(SOURCE)
    assert (record["state"], record["broken_runs"]) == ("unhealthy", 2)
    assert any("0 posts understood" in reason for reason in record["reasons"])
    assert any("unknown shape" in reason for reason in record["reasons"])
    crawl(broken)  # still broken: no second notice

    (message,) = inbox.messages
    assert message["To"].addresses[0].addr_spec == "ops@example.org"
    assert message["Subject"] == f"ArtWatch: source {SOURCE} is unhealthy"
    assert "0 posts understood" in message.get_body(("plain",)).get_content()
    (delivery,) = receiver.deliveries
    assert delivery["valid"]
    assert delivery["json"]["health"]["state"] == "unhealthy"
    assert delivery["json"]["health"]["source"] == SOURCE

    status = _status(tmp_path, settings)
    assert status.splitlines()[0].startswith(f"UNHEALTHY source {SOURCE} (3 runs): ")

    crawl(good)
    assert store.source_health(SOURCE)["state"] == "healthy"
    assert [m["Subject"] for m in inbox.messages][1:] == [
        f"ArtWatch: source {SOURCE} has recovered"
    ]
    assert [d["json"]["health"]["state"] for d in receiver.deliveries] == ["unhealthy", "healthy"]


def _status(tmp_path: Path, settings: Settings) -> str:
    env = dict(
        os.environ,
        MONGODB_URI=settings.mongodb_uri,
        ARTWATCH_DB_NAME=settings.artwatch_db_name,
        ARTWATCH_DATA_DIR=str(settings.artwatch_data_dir),
        ARTWATCH_SOURCES=str(settings.artwatch_sources),
    )
    result = subprocess.run(
        [sys.executable, "-m", "artwatch", "status"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("stats", "finish", "expected"),
    [
        ({"artwatch:rss:posts": 3}, "finished", []),
        ({"artwatch:rss:posts_older_than_cutoff": 40}, "finished", []),
        # Skipped by name (video only, removed...) is understood, not a shape error.
        ({"artwatch:posts_without_images": 5, "artwatch:rss:bad_response:video_only": 5},
         "finished", []),
        ({}, "finished", ["0 posts understood (at least 1 expected)"]),
        ({"artwatch:rss:posts": 3}, "closespider_timeout", ["finish reason 'closespider_timeout'"]),
        ({"artwatch:rss:posts": 9, "artwatch:rss:bad_entry:unexpected_shape": 3},
         "finished", ["3 pages or entries of an unknown shape, 9 understood"]),
        ({"artwatch:rss:posts": 1, "downloader:response_count": 4,
          "downloader:response_status_count:403": 3}, "finished",
         ["3 of 4 responses were errors"]),
    ],
)  # fmt: skip
def test_each_expectation_is_named_when_broken(stats, finish, expected):
    run = {"spider": "rss", "finish_reason": finish, "stats": stats}
    assert broken_expectations(run, Health()) == expected
