"""The outbox as the dispatcher sees it: claim an alert with a lease, settle it (sent, failed,
backed off, held) and group held alerts into summaries. Enqueueing is ``pipelines.store.alerts``.

Every change is one atomic update whose filter states the state it expects, so two
dispatchers never act on the same alert: ``claim`` is a ``find_one_and_update`` from
``pending`` (or from a ``sending`` whose lease has expired) to ``sending``, and finishing
updates match ``claimed_by`` so a dispatcher that lost its lease cannot overwrite the new
owner's result. Held alerts (daily digest, flood) are grouped in two idempotent steps:
first each due member gets a deterministic ``summary_key``, then a summary alert is upserted
for every key that has members; the second step runs on every pass, so a crash between the
two only delays the summary, and a member can only ever belong to one summary.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from pipelines.errors import ArtWatchError
from pipelines.store.writes import object_id

LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
OUTAGE_DELAY = timedelta(minutes=1)
STATUSES = ("pending", "sending", "sent", "failed", "skipped", "held", "grouped")


@dataclass(frozen=True)
class Hold:
    """Where a held alert waits: the summary group ``key`` and when that group is due."""

    key: str
    period_start: datetime
    release_at: datetime

    @property
    def type(self) -> str:
        return self.key.split(":", 1)[0]  # "digest" or "flood"


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Exponential from BACKOFF_BASE, capped, with half of it jittered (never zero)."""
    delay = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return delay / 2 + delay / 2 * rng.random()


class Outbox:
    """The ``alerts`` collection seen by one dispatcher, identified by ``worker``; get it from
    ``Store.outbox(worker)``. Only the sync store claims: the crawl only enqueues."""

    def __init__(self, alerts: Any, worker: str):
        self.alerts = alerts
        self.worker = worker

    def claim(self, now: datetime, skip_channels: Iterable[str] = ()) -> dict | None:
        query: dict[str, Any] = {
            "$or": [
                {"status": "pending", "next_attempt_at": {"$lte": now}},
                {"status": "sending", "lease_until": {"$lt": now}},
            ]
        }
        if skip_channels:
            query["channel"] = {"$nin": sorted(skip_channels)}
        update = {
            "$set": {
                "status": "sending",
                "claimed_by": self.worker,
                "claimed_at": now,
                "lease_until": now + LEASE,
            },
            "$inc": {"attempts": 1},
        }
        return self.alerts.find_one_and_update(
            query, update, sort=[("next_attempt_at", 1)], return_document=ReturnDocument.AFTER
        )

    def _finish(self, alert: Mapping[str, Any], fields: Mapping[str, Any], inc: int = 0) -> bool:
        update: dict[str, Any] = {"$set": dict(fields), "$unset": {"lease_until": ""}}
        if inc:
            update["$inc"] = {"attempts": inc}
        mine = {"_id": alert["_id"], "status": "sending", "claimed_by": self.worker}
        return self.alerts.update_one(mine, update).matched_count == 1

    def sent(self, alert: Mapping[str, Any], now: datetime) -> None:
        self._mark_members(alert, {"status": "sent", "sent_at": now})
        self._finish(alert, {"status": "sent", "sent_at": now})

    def failed(self, alert: Mapping[str, Any], now: datetime, error: str) -> None:
        self._mark_members(alert, {"status": "failed", "failed_at": now, "last_error": error})
        self._finish(alert, {"status": "failed", "failed_at": now, "last_error": error})

    def retry(
        self,
        alert: Mapping[str, Any],
        now: datetime,
        error: str,
        max_attempts: int,
        rng: random.Random,
    ) -> str:
        """Back to pending after a backoff, or ``failed`` once attempts are used up."""
        if alert["attempts"] >= max_attempts:
            self.failed(alert, now, f"{error} (gave up after {alert['attempts']} attempts)")
            return "failed"
        next_at = now + backoff(alert["attempts"], rng)
        self._finish(alert, {"status": "pending", "next_attempt_at": next_at, "last_error": error})
        return "retry"

    def defer(self, alert: Mapping[str, Any], now: datetime, error: str) -> None:
        """Back to pending without spending an attempt: the channel, not the alert, failed."""
        fields = {"status": "pending", "next_attempt_at": now + OUTAGE_DELAY, "last_error": error}
        self._finish(alert, fields, inc=-1)

    def skip(self, alert: Mapping[str, Any], now: datetime, reason: str) -> None:
        fields = {"status": "skipped", "skipped_at": now, "last_error": reason}
        self._mark_members(alert, fields)
        self._finish(alert, fields)

    def hold(self, alert: Mapping[str, Any], hold: Hold) -> None:
        fields = {
            "status": "held",
            "held_for": hold.key,
            "period_start": hold.period_start,
            "release_at": hold.release_at,
        }
        self._finish(alert, fields)

    def _mark_members(self, alert: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        if alert["type"] != "hit":
            query = {"summary_key": alert["hit_id"], "channel": alert["channel"]}
            self.alerts.update_many(query, {"$set": dict(fields)})

    # grouping held alerts into summaries ---------------------------------------------

    def release_due(self, now: datetime) -> None:
        """Group due held alerts under one summary key each, then make sure summaries exist."""
        groups: dict[tuple[str, str], list[ObjectId]] = {}
        due = self.alerts.find(
            {"status": "held", "release_at": {"$lte": now}}, {"held_for": 1, "channel": 1}
        )
        for alert in due:
            groups.setdefault((alert["held_for"], alert["channel"]), []).append(alert["_id"])
        for (held_for, _channel), ids in groups.items():
            # The smallest member id makes the key deterministic yet new for late members.
            key = f"{held_for}:{min(ids)}"
            self.alerts.update_many(
                {"_id": {"$in": ids}, "status": "held"},
                {"$set": {"status": "grouped", "summary_key": key}},
            )
        self.ensure_summaries(now)

    def ensure_summaries(self, now: datetime) -> None:
        seen: set[tuple[str, str]] = set()
        for member in self.alerts.find({"status": "grouped"}):
            key = (member["summary_key"], member["channel"])
            if key not in seen:
                seen.add(key)
                self._upsert_summary(member, now)

    def _upsert_summary(self, member: Mapping[str, Any], now: datetime) -> None:
        fields = {
            "type": member["held_for"].split(":", 1)[0],
            "artist_id": member["artist_id"],
            "artwork_id": member["artwork_id"] if member["held_for"].startswith("flood:") else None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "period_start": member["period_start"],
            "period_end": member["release_at"],
        }
        key = {"hit_id": member["summary_key"], "channel": member["channel"]}
        with contextlib.suppress(DuplicateKeyError):  # another dispatcher was just faster
            self.alerts.update_one(key, {"$setOnInsert": fields}, upsert=True)

    # commands ------------------------------------------------------------------------

    def retry_failed(self, now: datetime, alert_id: str | None = None) -> int:
        """Failed alerts (all, or one) back to pending with fresh attempts; returns how many."""
        query: dict[str, Any] = {"status": "failed", "summary_key": {"$exists": False}}
        if alert_id is not None:
            alert = self.alerts.find_one({"_id": object_id(alert_id, "alert id")})
            if alert is None:
                raise ArtWatchError(f"no alert with id {alert_id}")
            if alert.get("summary_key"):
                summary = self.alerts.find_one(
                    {"hit_id": alert["summary_key"], "channel": alert["channel"]}
                )
                raise ArtWatchError(
                    f"alert {alert_id} went out in summary {summary and summary['_id']}; "
                    "retry that one"
                )
            query["_id"] = alert["_id"]
        update = {"$set": {"status": "pending", "attempts": 0, "next_attempt_at": now}}
        return self.alerts.update_many(query, update).modified_count
