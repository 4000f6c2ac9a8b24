"""The daily digest: an artist with ``alert_mode: daily`` gets one email a day.

Their alerts are held (every channel) until the next ``digest_hour`` in the server's local
time, then grouped into one summary per channel that lists every hit held since the last
digest. There is no separate digest job: the first dispatch pass at or after the digest
hour releases it, so a service that was down at that hour sends the digest when it is back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.store.outbox import Hold

DAY = timedelta(days=1)


def next_digest_at(now: datetime, digest_hour: int) -> datetime:
    """The first ``digest_hour`` o'clock (local time) strictly after ``now``, in UTC."""
    local = now.astimezone()
    release = local.replace(hour=digest_hour, minute=0, second=0, microsecond=0)
    if release <= local:
        release += DAY
    return release.astimezone(UTC)


def digest_hold(artist_id: str, now: datetime, digest_hour: int) -> Hold:
    release = next_digest_at(now, digest_hour)
    local_day = release.astimezone().date().isoformat()
    return Hold(
        key=f"digest:{artist_id}:{local_day}", period_start=release - DAY, release_at=release
    )
