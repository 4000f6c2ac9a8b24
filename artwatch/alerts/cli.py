"""``artwatch alerts ...`` (send, retry, list) and ``artwatch artist set`` (preferences)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Annotated

import typer

from artwatch.alerts.delivery import KIND_ORDER
from artwatch.alerts.dispatcher import dispatch
from artwatch.context import open_store
from artwatch.output import print_json, print_table
from artwatch.settings import load_settings
from pipelines.errors import ArtWatchError
from pipelines.store.outbox import STATUSES

app = typer.Typer(no_args_is_help=True, help="The alert outbox: send, retry, list.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Status = Enum("Status", {status: status for status in STATUSES}, type=str)
Kind = Enum("Kind", {kind: kind for kind in (*KIND_ORDER, "any")}, type=str)


class Mode(StrEnum):
    instant = "instant"
    daily = "daily"


@app.command("send")
def send(as_json: JsonFlag = False) -> None:
    """One dispatch pass: send every alert that is due now."""
    with open_store() as store:
        outcomes = dict(dispatch(store, load_settings()))
    if as_json:
        print_json(outcomes)
    else:
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        print(summary or "nothing to send")


@app.command("retry")
def retry(
    alert_id: Annotated[str | None, typer.Argument(help="The failed alert to retry.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Retry every failed alert.")] = False,
) -> None:
    """Put failed alerts back to pending with fresh attempts."""
    if every == (alert_id is not None):
        raise ArtWatchError("give either an alert id or --all")
    with open_store() as store:
        count = store.outbox("cli").retry_failed(datetime.now(UTC), alert_id)
    if alert_id is not None and count == 0:
        raise ArtWatchError(f"alert {alert_id} is not failed; nothing to retry")
    print(f"{count} alert{'s' * (count != 1)} back to pending")


@app.command("list")
def list_alerts(
    status: Annotated[Status | None, typer.Option(help="Only alerts in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The outbox, newest first."""
    with open_store() as store:
        rows = [
            {
                "id": str(alert["_id"]),
                "status": alert["status"],
                "channel": alert["channel"],
                "type": alert.get("type", "hit"),
                "artist_id": alert.get("artist_id"),
                "hit_id": alert["hit_id"],
                "attempts": alert.get("attempts", 0),
                "next_attempt_at": alert.get("next_attempt_at"),
                "sent_at": alert.get("sent_at"),
                "last_error": alert.get("last_error"),
            }
            for alert in store.alerts(None if status is None else status.value, limit)
        ]
    if as_json:
        print_json(rows)
    else:
        columns = ["id", "status", "channel", "type", "attempts", "next_attempt_at", "last_error"]
        print_table("Alerts", rows, columns)


def artist_set(
    artist_id: str,
    alert_mode: Annotated[
        Mode | None, typer.Option(help="instant, or one daily digest at alerts.digest_hour.")
    ] = None,
    min_kind: Annotated[
        Kind | None, typer.Option(help="Weakest match kind that alerts (any: all of them).")
    ] = None,
) -> None:
    """Change an artist's alert preferences (applied to alerts not yet sent)."""
    changes: dict[str, str | None] = {}
    if alert_mode is not None:
        changes["alert_mode"] = alert_mode.value
    if min_kind is not None:
        changes["min_kind"] = None if min_kind.value == "any" else min_kind.value
    if not changes:
        raise ArtWatchError("nothing to change: give --alert-mode and/or --min-kind")
    with open_store() as store:
        if not store.update_artist(artist_id, changes):
            raise ArtWatchError(f"no artist with id {artist_id}")
    print(", ".join(f"{key}={value or 'any'}" for key, value in changes.items()))
