"""Source health: every finished run is checked against its source's expectations.

A crawl can end ``finished`` and still have read nothing: a platform renamed a field, answers
HTML where it answered JSON, or refuses every request. After each run, ``check_run`` compares
the run's Scrapy stats with the source's ``health`` block of config/sources.yaml (posts
understood, images, share of pages and entries that failed to parse, HTTP error ratio, finish
reason). A source whose runs break them ``unhealthy_after`` times in a row turns unhealthy;
the operator (``ARTWATCH_OPERATOR_EMAIL``, ``ARTWATCH_OPERATOR_WEBHOOK``) is told once through
the alert channels, and once more when a run passes again. A notice that could not be sent is
retried after the next run; the ``health`` collection keeps the state across processes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from artwatch.alerts.channels import channel_classes
from artwatch.alerts.delivery import Delivery
from artwatch.settings import Health, Settings, load_sources
from pipelines.errors import AlertError
from pipelines.store.sync import Store

log = logging.getLogger("artwatch.health")

# Bad-response kinds (``artwatch/<spider>/bad_response/<kind>``) that mean a listing did not
# have the shape the spider knows; every ``bad_entry/<reason>`` is such an entry. Skips by
# name (video_only, removed, age_gated...) are posts understood, not shape errors.
SHAPE_KINDS = (
    "unexpected_shape",
    "invalid_json",
    "html_instead_of_json",
    "not_a_feed",
    "bad_next_page",
)
HEALTHY, UNHEALTHY = "healthy", "unhealthy"


def _stat(stats: Mapping[str, Any], key: str) -> int:
    # The run document stores Scrapy's keys made MongoDB-safe ('/' -> ':', '.' -> '_').
    return int(stats.get(key.replace(".", "_").replace("/", ":")) or 0)


def broken_expectations(run: Mapping[str, Any], expect: Health) -> list[str]:
    """Why this run breaks ``expect``, one readable reason each; empty when it passes."""
    stats = run.get("stats") or {}
    spider = run.get("spider", "")
    reasons = []
    finish = run.get("finish_reason") or run.get("status")
    if finish not in expect.finish_reasons:
        reasons.append(f"finish reason {finish!r}")
    understood = sum(
        _stat(stats, key)
        for key in (
            f"artwatch/{spider}/posts",
            f"artwatch/{spider}/posts_older_than_cutoff",
            "artwatch/posts_without_images",
        )
    )
    shape = sum(_stat(stats, f"artwatch/{spider}/bad_response/{kind}") for kind in SHAPE_KINDS)
    entries = f"artwatch:{spider}:bad_entry:"
    shape += sum(int(value or 0) for key, value in stats.items() if key.startswith(entries))
    if understood < expect.min_posts:
        reasons.append(f"{understood} posts understood (at least {expect.min_posts} expected)")
    images = _stat(stats, "artwatch/images/downloaded")
    if images < expect.min_images:
        reasons.append(f"{images} images downloaded (at least {expect.min_images} expected)")
    if shape and shape / (shape + understood) > expect.max_shape_error_share:
        reasons.append(f"{shape} pages or entries of an unknown shape, {understood} understood")
    responses = _stat(stats, "downloader/response_count")
    failures = _stat(stats, "downloader/exception_count")
    errors = failures + sum(
        int(value or 0)
        for key, value in stats.items()
        if key.startswith("downloader:response_status_count:") and key[-3:-2] in ("4", "5")
    )
    if responses + failures and errors / (responses + failures) > expect.max_http_error_ratio:
        reasons.append(f"{errors} of {responses + failures} responses were errors")
    return reasons


class HealthMonitor:
    """Checks runs, keeps each source's state in the store, and tells the operator."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings

    def check_run(self, run: Mapping[str, Any]) -> str | None:
        """Record one finished run of its source; the new state when it changed, else None."""
        source = run["source"]
        sources = load_sources(self.settings.artwatch_sources)
        expect = sources.health_of(source)
        reasons = broken_expectations(run, expect)
        record = self.store.source_health(source) or {"state": HEALTHY, "broken_runs": 0}
        broken = record.get("broken_runs", 0) + 1 if reasons else 0
        state = record.get("state", HEALTHY)
        now = datetime.now(UTC)
        fields: dict[str, Any] = {
            "broken_runs": broken,
            "last_run_id": str(run["_id"]),
            "last_checked_at": now,
            "reasons": reasons,
        }
        changed = None
        if state == HEALTHY and broken >= expect.unhealthy_after:
            changed = UNHEALTHY
        elif state == UNHEALTHY and not reasons:
            changed = HEALTHY
        fields["state"] = changed or state
        if changed:
            fields.update(since=now, pending_notice=changed)
            log.warning("source %s is now %s: %s", source, changed, "; ".join(reasons) or "ok")
        self.store.save_source_health(source, fields)
        self._notify(source)
        return changed

    def _notify(self, source: str) -> None:
        """Send a pending notice on every operator channel; it stays pending if one failed."""
        record = self.store.source_health(source) or {}
        pending = record.get("pending_notice")
        if not pending:
            return
        deliveries = list(self._deliveries(source, record))
        failed = False
        for channel, delivery in deliveries:
            try:
                channel.send(delivery)
            except AlertError as error:
                failed = True
                log.warning("operator notice for %s on %s failed: %s", source, channel, error)
        if not failed:
            self.store.save_source_health(source, {"pending_notice": None})

    def _deliveries(self, source: str, record: Mapping[str, Any]):
        settings = self.settings
        secret = settings.artwatch_operator_webhook_secret
        operator = {
            "_id": "operator",
            "name": "ArtWatch operator",
            "email": settings.artwatch_operator_email,
            "webhook_url": settings.artwatch_operator_webhook,
            "webhook_secret": secret.get_secret_value() if secret else None,
        }
        classes = channel_classes(settings)
        notice = health_notice(source, record)
        since = record.get("since") or datetime.now(UTC)
        alert_id = f"health-{source}-{record['pending_notice']}-{since:%Y%m%dT%H%M%S}"
        for name, cls in classes.items():
            if not operator.get(cls.artist_field):
                continue
            channel = cls.from_settings(settings)
            if channel is None:
                log.warning("operator notice for %s: channel %s is off", source, name)
                continue
            yield channel, Delivery(alert_id, "health", name, operator, (), notice=notice)


def health_notice(source: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator reads: subject, plain text, and the data a webhook carries."""
    state = record["pending_notice"]
    reasons = list(record.get("reasons") or ())
    if state == UNHEALTHY:
        subject = f"ArtWatch: source {source} is unhealthy"
        lines = [
            f"The last {record.get('broken_runs')} runs of source {source} broke its "
            "expectations (health in config/sources.yaml):",
            *(f"  - {reason}" for reason in reasons),
            "",
            "The platform may have changed its responses or be refusing the crawler. See "
            "`artwatch status` and the run's log; README (Spiders, health) says how to capture "
            "the responses as fixtures for a report.",
        ]
    else:
        subject = f"ArtWatch: source {source} has recovered"
        lines = [f"The last run of source {source} met its expectations again."]
    data = {
        "source": source,
        "state": state,
        "reasons": reasons,
        "broken_runs": record.get("broken_runs"),
        "run_id": record.get("last_run_id"),
    }
    return {"subject": subject, "text": "\n".join(lines) + "\n", "data": data}


def health_rows(store: Store) -> list[dict[str, Any]]:
    """Every source's health for ``artwatch status``: unhealthy ones first."""
    rows = [
        {
            "source": record["_id"],
            "state": record.get("state", HEALTHY),
            "broken_runs": record.get("broken_runs", 0),
            "since": record.get("since"),
            "reasons": list(record.get("reasons") or ()),
        }
        for record in store.sources_health()
    ]
    return sorted(rows, key=lambda row: (row["state"] != UNHEALTHY, row["source"]))
