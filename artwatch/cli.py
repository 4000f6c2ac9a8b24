"""The ``artwatch`` command line (Typer). Every ArtWatchError ends as one line and exit 2."""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.progress import Progress

from artwatch import demo, portfolio, service
from artwatch.alerts import cli as alerts_cli
from artwatch.context import open_store
from artwatch.health import UNHEALTHY, health_rows
from artwatch.output import console, print_json, print_table
from artwatch.scheduler import print_sources, sources_status
from artwatch.sealed import SecretBox
from artwatch.settings import load_settings, load_sources
from pipelines.engine.descriptor import model_status
from pipelines.errors import ArtWatchError
from pipelines.store.sync import redact_uri

DASHBOARD_PORT = 8080
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$|^[^@\s<>]+@localhost$")

app = typer.Typer(no_args_is_help=True, help="ArtWatch: find your artworks in AI-tagged posts.")
artist_app = typer.Typer(no_args_is_help=True, help="Enrolled artists.")
app.add_typer(artist_app, name="artist")
portfolio_app = typer.Typer(no_args_is_help=True, help="An artist's enrolled artworks.")
app.add_typer(portfolio_app, name="portfolio")
admin_app = typer.Typer(no_args_is_help=True, help="Whoever runs this instance.")
app.add_typer(admin_app, name="admin")
app.add_typer(alerts_cli.app, name="alerts")
artist_app.command("set")(alerts_cli.artist_set)
app.command("crawl")(service.crawl_command)
app.command("run")(service.run_command)
app.command("demo")(demo.demo_command)


@app.callback()
def check_configuration() -> None:
    """Validate the environment and sources.yaml before any command does anything."""
    load_settings()
    load_sources()


JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def fail(message: str) -> None:
    """Raise the error the entry point turns into one line and exit code 2."""
    raise ArtWatchError(message)


@artist_app.command("add")
def artist_add(
    name: str,
    email: Annotated[str, typer.Option(help="Where alerts are emailed.")],
    webhook: Annotated[str | None, typer.Option(help="URL that receives signed POSTs.")] = None,
    webhook_secret: Annotated[
        str | None, typer.Option(help="HMAC secret for the webhook (generated if omitted).")
    ] = None,
) -> None:
    """Enroll an artist; prints the new artist id."""
    if not EMAIL.match(email):
        fail(f"--email {email!r} is not an email address")
    if webhook is not None:
        if urlsplit(webhook).scheme not in ("http", "https") or not urlsplit(webhook).hostname:
            fail(f"--webhook {webhook!r} must be an http(s) URL")
        if webhook_secret is None:
            webhook_secret = secrets.token_hex(32)
            print(
                f"webhook secret (shown once, give it to the receiver): {webhook_secret}",
                file=sys.stderr,
            )
        webhook_secret = SecretBox.from_settings(load_settings()).seal(webhook_secret)
    with open_store() as store:
        print(store.add_artist(name, email, webhook, webhook_secret))


@artist_app.command("list")
def artist_list(as_json: JsonFlag = False) -> None:
    """List enrolled artists."""
    with open_store() as store:
        artists = [
            {
                "id": str(artist["_id"]),
                "name": artist["name"],
                "email": artist["email"],
                "webhook": artist.get("webhook_url"),
                "alert_mode": artist.get("alert_mode", "instant"),
                "artworks": store.count_artworks(str(artist["_id"])),
                "created_at": artist["created_at"],
            }
            for artist in store.artists()
        ]
    if as_json:
        print_json(artists)
    else:
        columns = ["id", "name", "email", "webhook", "alert_mode", "artworks"]
        print_table("Artists", artists, columns)


@portfolio_app.command("add")
def portfolio_add(
    artist_id: str,
    sources: Annotated[list[str], typer.Argument(help="Image files, folders or URLs.")],
) -> None:
    """Fingerprint and enroll artworks; one line per source that could not be read."""
    settings = load_settings()
    files = list(portfolio.expand(sources))
    with open_store(settings) as store, Progress(console=console, transient=True) as progress:
        task = progress.add_task("Enrolling", total=len(files))

        def advance(source: str, failure: str | None) -> None:
            if failure:
                progress.console.print(f"skipped {source}: {failure}", markup=False, soft_wrap=True)
            progress.advance(task)

        report = portfolio.enroll(
            store, artist_id, files, settings.artwatch_allow_private_hosts, advance
        )
        progress.update(
            task,
            description="Back-scan",
            completed=0,
            total=store.collection_counts(["images"])["images"],
        )
        found = portfolio.backscan(store, report.added, lambda: progress.advance(task))
    print(
        f"added {len(report.added)}, already enrolled {len(report.duplicates)}, "
        f"unreadable {len(report.failures)}; back-scan of crawled images: {found} new hits"
    )


@portfolio_app.command("refresh")
def portfolio_refresh() -> None:
    """Re-fingerprint artworks made by an older engine version (also done by `artwatch run`)."""
    settings = load_settings()
    with open_store(settings) as store:
        done, failures = portfolio.refresh(store, settings.artwatch_allow_private_hosts)
    for source, why in failures:
        print(f"could not re-read {source}: {why}")
    print(f"re-fingerprinted {done}, could not re-read {len(failures)}")


@portfolio_app.command("list")
def portfolio_list(artist_id: str, as_json: JsonFlag = False) -> None:
    """List an artist's artworks."""
    with open_store() as store:
        rows = [
            {
                "id": str(artwork["_id"]),
                "filename": artwork.get("filename"),
                "source": artwork.get("source"),
                "sha256": artwork["sha256"],
                "size": f"{artwork.get('width')}x{artwork.get('height')}",
                "created_at": artwork["created_at"],
            }
            for artwork in store.artworks(artist_id)
        ]
    if as_json:
        print_json(rows)
    else:
        print_table("Portfolio", rows, ["id", "filename", "size", "created_at"])


class HitStatus(StrEnum):
    new = "new"
    confirmed = "confirmed"
    dismissed = "dismissed"


@app.command()
def hits(
    artist: Annotated[str | None, typer.Option(help="Only this artist's hits.")] = None,
    status: Annotated[HitStatus | None, typer.Option(help="Only hits with this status.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List hits, newest first, with their evidence."""
    with open_store() as store:
        rows = [
            {
                "id": str(hit["_id"]),
                "artist_id": hit.get("artist_id"),
                "artwork_id": hit.get("artwork_id"),
                "kind": hit.get("kind"),
                "score": hit.get("score"),
                "status": hit.get("status"),
                "platform": hit.get("platform"),
                "post_url": hit.get("post_url"),
                "image_url": hit.get("image_url"),
                "author_name": hit.get("author_name"),
                "post_created_at": hit.get("post_created_at"),
                "found_at": hit.get("found_at"),
                "ai_evidence": hit.get("ai_evidence"),
                "distances": hit.get("distances"),
            }
            for hit in store.hits(artist, status.value if status else None)
        ]
    if as_json:
        print_json(rows)
    else:
        columns = ["id", "kind", "status", "platform", "post_url", "found_at"]
        print_table("Hits", rows, columns)


@app.command()
def review(
    hit_id: str,
    artist: Annotated[str, typer.Option(help="The artist the hit belongs to.")],
    status: Annotated[HitStatus, typer.Option(help="The new status.")],
) -> None:
    """Confirm or dismiss a hit; a dismissed image is not reported again for that artwork."""
    with open_store() as store:
        if not store.set_hit_status(hit_id, artist, status.value):
            fail(f"no hit {hit_id} of artist {artist}")
    print(f"{hit_id}: {status.value}")


@artist_app.command("login-link")
def artist_login_link(artist_id: str) -> None:
    """Print a new dashboard login link for the artist (works once, for 24 hours); older
    links and the artist's open sessions stop working."""
    from artwatch import web  # FastAPI and uvicorn only for these commands

    settings = load_settings()
    with open_store(settings) as store:
        try:
            token = web.new_login_token(store, artist_id)
        except LookupError:
            fail(f"no artist with id {artist_id} (see `artwatch artist list`)")
    base = (settings.artwatch_public_url or f"http://127.0.0.1:{DASHBOARD_PORT}").rstrip("/")
    print(f"{base}/login?token={token}")


@admin_app.command("login-link")
def admin_login_link() -> None:
    """Print a sign-in link to the operator view (works once, for 24 hours)."""
    from artwatch import web  # FastAPI and uvicorn only for these commands

    settings = load_settings()
    with open_store(settings) as store:
        token = web.new_operator_token(store)
    base = (settings.artwatch_public_url or f"http://127.0.0.1:{DASHBOARD_PORT}").rstrip("/")
    print(f"{base}/admin/login?token={token}")


@app.command("dashboard")
def dashboard_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (0: any free port).")
    ] = DASHBOARD_PORT,
) -> None:
    """Serve the artists' dashboard until Ctrl-C or SIGTERM."""
    from artwatch import web  # FastAPI and uvicorn only for these commands

    settings = load_settings()
    if settings.artwatch_secret_key is None:
        print(
            "ARTWATCH_SECRET_KEY is unset: sessions end when the dashboard stops", file=sys.stderr
        )
        key = secrets.token_bytes(32)
    else:
        key = settings.artwatch_secret_key.get_secret_value().encode()
    config = web.WebConfig(
        secret_key=key,
        secret_box=SecretBox.from_settings(settings),
        public_url=settings.artwatch_public_url,
        allow_private_hosts=settings.artwatch_allow_private_hosts,
        image_maxsize=settings.artwatch_image_maxsize,
    )
    with open_store(settings) as store:
        server, sock = web.server(web.create_app(store, config), host, port)
        print(f"dashboard on http://{host}:{sock.getsockname()[1]}/ (Ctrl-C to stop)", flush=True)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])


def gather_status() -> dict:
    settings = load_settings()
    with open_store(settings) as store:
        return {
            "database": {
                "uri": redact_uri(store.uri),
                "embedded": settings.mongodb_uri is None,
                "name": settings.artwatch_db_name,
            },
            "counts": store.collection_counts(["artists", "artworks", "posts", "images"]),
            "hits": store.count_by("hits", "status"),
            "alerts": store.count_by("alerts", "status"),
            "runs": [
                {
                    key: run.get(key)
                    for key in ("source", "spider", "status", "started_at", "finished_at")
                }
                for run in store.last_runs(10)
            ],
            "sources": sources_status(store, load_sources()),
            "health": health_rows(store),
            "descriptor": model_status() or "on",
        }


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Database, last runs, hits and alerts at a glance."""
    report = gather_status()
    if as_json:
        print_json(report)
        return
    # An unhealthy source comes first: a crawl that reads nothing must not hide in a table.
    for row in report["health"]:
        if row["state"] == UNHEALTHY:
            reasons = "; ".join(row["reasons"]) or "see its last runs"
            print(f"UNHEALTHY source {row['source']} ({row['broken_runs']} runs): {reasons}")
    database = report["database"]
    kind = "embedded nx-27017" if database["embedded"] else "MongoDB"
    print(f"database: {database['uri']} ({kind}, db {database['name']})")
    print(f"learned descriptor: {report['descriptor']}")
    print_table("Stored", [report["counts"]], list(report["counts"]))
    for title in ("hits", "alerts"):
        rows = [{"status": k, "count": v} for k, v in sorted(report[title].items())]
        print_table(title.capitalize(), rows, ["status", "count"])
    print_table(
        "Last runs", report["runs"], ["source", "spider", "status", "started_at", "finished_at"]
    )
    print_sources(report["sources"])


def main() -> None:
    """Console entry point: one readable line and exit code 2 for every ArtWatchError."""
    try:
        app()
    except ArtWatchError as error:
        print(f"artwatch: error: {error}", file=sys.stderr)
        sys.exit(2)
