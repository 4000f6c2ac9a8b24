"""The artwatch command line, run as a real process against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from artwatch.embedded import free_port
from pipelines.store.writes import utcnow


@pytest.fixture
def run_cli(mongo_uri, store, tmp_path):
    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        environment = {
            **os.environ,
            "MONGODB_URI": mongo_uri,
            "ARTWATCH_DB_NAME": store.db.name,
            "ARTWATCH_DATA_DIR": str(tmp_path),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "artwatch", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_artist_add_then_list_as_json(run_cli):
    added = run_cli("artist", "add", "Ana Lima", "--email", "ana@example.org")
    assert added.returncode == 0, added.stderr
    artist_id = added.stdout.strip()
    listed = run_cli("artist", "list", "--json")
    [artist] = json.loads(listed.stdout)
    assert artist["id"] == artist_id and artist["name"] == "Ana Lima"
    assert artist["email"] == "ana@example.org" and artist["artworks"] == 0


def test_webhook_secret_is_generated_and_shown_once_on_stderr(run_cli):
    added = run_cli(
        "artist", "add", "Bo", "--email", "bo@example.org", "--webhook", "https://hooks.example/x"
    )
    assert added.returncode == 0, added.stderr
    assert "webhook secret" in added.stderr and len(added.stdout.split()) == 1
    [artist] = json.loads(run_cli("artist", "list", "--json").stdout)
    assert artist["webhook"] == "https://hooks.example/x"
    assert "webhook_secret" not in artist  # never printed in listings


def test_status_json_is_one_document(run_cli):
    run_cli("artist", "add", "Ana", "--email", "ana@example.org")
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["database"]["embedded"] is False
    assert report["counts"]["artists"] == 1
    assert report["hits"] == {} and report["alerts"] == {}
    # "on", or the one-line reason the learned descriptor is off (missing or corrupt model)
    assert report["descriptor"] == "on" or "model" in report["descriptor"]


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_email_and_bad_webhook_are_refused(run_cli):
    assert "--email" in one_line_error(run_cli("artist", "add", "X", "--email", "nope"))
    line = one_line_error(
        run_cli("artist", "add", "X", "--email", "x@example.org", "--webhook", "file:///etc")
    )
    assert "--webhook" in line


def test_unreachable_mongodb_uri_is_one_line_naming_the_setting(run_cli):
    line = one_line_error(run_cli("status", MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/"))
    assert "MONGODB_URI" in line


def test_malformed_sources_yaml_is_one_line_naming_the_key(run_cli, tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: x\n    spider: mastodon\n    schedul: {}\n")
    line = one_line_error(run_cli("status", ARTWATCH_SOURCES=str(sources)))
    assert "sources.0" in line and "sources.yaml" in line


def test_unknown_setting_value_is_one_line_naming_the_variable(run_cli):
    line = one_line_error(run_cli("status", ARTWATCH_LOG_LEVEL="LOUD"))
    assert "ARTWATCH_LOG_LEVEL" in line


def _hit(artwork_id: str, image_id: str, post_id: str, **fields) -> dict:
    key = {"artwork_id": artwork_id, "image_id": image_id, "post_id": post_id}
    return {**key, "status": "new", "found_at": utcnow(), **fields}


def test_hits_listing_filters_by_artist_and_review_is_limited_to_the_owner(run_cli, store):
    ana = store.add_artist("Ana", "ana@example.org")
    bo = store.add_artist("Bo", "bo@example.org")
    ana_hit, _ = store.upsert_hit(_hit("w1", "i1", "mastodon:1", artist_id=ana, kind="near"))
    store.upsert_hit(_hit("w2", "i2", "mastodon:2", artist_id=bo, kind="exact"))

    listed = json.loads(run_cli("hits", "--artist", ana, "--json").stdout)
    assert [hit["id"] for hit in listed] == [ana_hit]

    line = one_line_error(run_cli("review", ana_hit, "--artist", bo, "--status", "dismissed"))
    assert ana_hit in line
    reviewed = run_cli("review", ana_hit, "--artist", ana, "--status", "dismissed")
    assert reviewed.returncode == 0, reviewed.stderr
    dismissed = json.loads(run_cli("hits", "--status", "dismissed", "--json").stdout)
    assert [hit["id"] for hit in dismissed] == [ana_hit]
    assert run_cli("hits", "--status", "bogus").returncode == 2


def test_login_link_is_printed_for_known_artists_only(run_cli, store):
    ana = store.add_artist("Ana", "ana@example.org")
    result = run_cli("artist", "login-link", ana, ARTWATCH_PUBLIC_URL="https://watch.example/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://watch.example/login?token=")
    assert store.artist(ana)["login_token_sha256"]
    assert "no artist" in one_line_error(run_cli("artist", "login-link", "0" * 24))
