"""``artwatch demo``: the whole flow on this machine, offline, in about a minute.

In a fresh folder (``<ARTWATCH_DATA_DIR>/demo`` unless ``--dir`` says otherwise; wiped first,
and only if an earlier demo made it) the demo starts its own embedded database, a local
platform serving a Mastodon tag timeline, an RSS feed and a Bluesky feed whose posts hold
edited copies of a demo artist's portfolio among unrelated pictures (``demo_platform``,
``demo_images``), a local SMTP server writing ``.eml`` files and a webhook receiver that
verifies signatures (``demo_inbox``). It enrolls the artist, runs one cycle of the real
scheduler (every source's crawl job made due now, each crawl its own ``scrapy crawl``
process), then the alert dispatcher job, and prints what was found and what arrived. It
fails (exit 1, saying what) if a crawl did not finish, a planted copy was missed, a decoy
matched, or an alert did not arrive exactly once.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from artwatch import scheduler as jobs
from artwatch.context import open_store
from artwatch.crawls import CrawlRunner
from artwatch.demo_images import Picture, pictures, portfolio
from artwatch.demo_inbox import MailDrop, WebhookInbox
from artwatch.demo_platform import PLATFORMS, DemoPlatform
from artwatch.portfolio import enroll
from artwatch.service import configure_logging, dispatch_pass, run_now
from artwatch.settings import Settings, Sources, load_settings, load_sources
from pipelines.errors import ArtWatchError
from pipelines.store.sync import Store

MARKER = ".artwatch-demo"
CRAWL_TIMEOUT_MINUTES = 1.5
WAIT_SECONDS = 150
# The demo's crawls read only the demo platform: a Bluesky account in the environment would
# make the spider log in there instead of reading the public feed.
CLEAN_ENV = {"BLUESKY_HANDLE": "", "BLUESKY_APP_PASSWORD": ""}


@dataclass
class Outcome:
    """What the demo saw; ``problems`` empty means the flow worked end to end."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    found: list[tuple[Picture, str, dict | None]] = field(default_factory=list)
    hits_by_kind: Counter = field(default_factory=Counter)
    alerts_by_status: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def prepare_folder(folder: Path) -> Path:
    """An empty demo folder; refuses to wipe a folder an earlier demo did not make."""
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise ArtWatchError(f"{folder} is not empty and not an ArtWatch demo folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `artwatch demo`; wiped by the next run\n")
    return folder


def write_sources(folder: Path, platform: DemoPlatform) -> Path:
    """The demo's sources.yaml: one source per platform format, all on the demo server."""
    args = platform.source_args()
    config = {
        "contact_url": "https://github.com/artwatch/artwatch",
        "platforms": {name: {"download_delay": 0, "concurrency": 4} for name in PLATFORMS},
        "sources": [
            {
                "name": f"demo-{name}",
                "spider": name,
                "args": args[name],
                "schedule": {"interval_minutes": 60},
                "timeout_minutes": CRAWL_TIMEOUT_MINUTES,
            }
            for name in PLATFORMS
        ],
    }
    path = folder / "sources.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def demo_settings(folder: Path, sources: Path, smtp_url: str) -> Settings:
    return Settings(
        mongodb_uri=None,
        artwatch_data_dir=folder,
        artwatch_db_name="artwatch",
        artwatch_sources=sources,
        artwatch_allow_private_hosts=("127.0.0.1",),
        artwatch_public_url=None,
        smtp_url=smtp_url,
        alert_from="ArtWatch demo <artwatch@localhost>",
    )


def run_cycle(store: Store, settings: Settings, sources: Sources) -> dict[str, str]:
    """One scheduled cycle: every source's job made due now, then the dispatcher job."""
    runner = CrawlRunner(store, settings, extra_env=CLEAN_ENV)
    jobs.install(jobs.Runtime(store, runner, sources, dispatch_pass(store, settings, sources)))
    scheduler = jobs.build_scheduler(store, workers=len(sources.sources) + 2)
    scheduler.start(paused=True)
    try:
        jobs.sync_jobs(scheduler, sources)
        crawl_ids = [f"{jobs.CRAWL_JOB_PREFIX}{source.name}" for source in sources.sources]
        outcomes = run_now(scheduler, crawl_ids, WAIT_SECONDS)
        outcomes |= run_now(scheduler, [jobs.DISPATCH_JOB_ID], WAIT_SECONDS)
    finally:
        scheduler.shutdown()
        jobs.install(None)
    return outcomes


def check(store: Store, platform: DemoPlatform, seeds: dict[str, int], outcome: Outcome) -> None:
    """Compare what was stored with what was planted; every difference is a problem."""
    outcome.runs = store.runs_by_source()
    for run in outcome.runs:
        if run.get("status") != "finished":
            outcome.problems.append(
                f"crawl {run['source']} ended {run.get('status')} (log: {run.get('log_path')})"
            )
    hits = store.hits()
    outcome.hits_by_kind = Counter(hit.get("kind") for hit in hits)
    by_url = {hit.get("image_url"): hit for hit in hits}
    for picture in platform.pictures:
        hit = by_url.pop(platform.image_url(picture), None)
        outcome.found.append((picture, platform_of(platform, picture), hit))
        if picture.copy_of is None and hit is not None:
            outcome.problems.append(f"the unrelated {picture.name} matched an artwork")
        elif picture.copy_of is not None and hit is None:
            outcome.problems.append(f"the {picture.edit} copy {picture.name} was not found")
        elif hit is not None and seeds.get(hit["artwork_id"]) != picture.copy_of:
            outcome.problems.append(f"{picture.name} matched the wrong artwork")
    outcome.problems += [f"a hit on an image nobody posted: {url}" for url in by_url]
    outcome.alerts_by_status = Counter(
        (alert["channel"], alert["status"]) for alert in store.alerts()
    )


def check_inboxes(outcome: Outcome, mail: MailDrop, hooks: WebhookInbox) -> None:
    sent = outcome.alerts_by_status
    expected = len([hit for _, _, hit in outcome.found if hit is not None])
    if len(mail.messages) != expected or sent[("email", "sent")] != expected:
        outcome.problems.append(f"{len(mail.messages)} emails arrived for {expected} hits")
    if len(hooks.deliveries) != expected or sent[("webhook", "sent")] != expected:
        outcome.problems.append(f"{len(hooks.deliveries)} webhooks arrived for {expected} hits")
    if hooks.refused:
        outcome.problems.append(f"{hooks.refused} webhook deliveries had a bad signature")


def platform_of(platform: DemoPlatform, picture: Picture) -> str:
    return next(name for name in PLATFORMS if picture in platform.posted_on(name))


def run_demo(folder: Path) -> Outcome:
    """The whole demo in ``folder``; see the module docstring."""
    folder = prepare_folder(folder)
    works = portfolio()
    (folder / "portfolio").mkdir()
    paths = {seed: folder / "portfolio" / f"artwork-{seed}.png" for seed in works}
    for seed, path in paths.items():
        path.write_bytes(works[seed])
    outcome = Outcome()
    secret = secrets.token_hex(16)
    with (
        DemoPlatform(pictures()) as platform,
        MailDrop(folder / "mail") as mail,
        WebhookInbox(folder / "webhooks", secret) as hooks,
    ):
        settings = demo_settings(folder, write_sources(folder, platform), mail.url)
        sources = load_sources(settings.artwatch_sources)
        configure_logging(settings)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
        with open_store(settings) as store:
            artist = store.add_artist("Demo Artist", "artist@example.org", hooks.url, secret)
            report = enroll(store, artist, [str(p) for p in paths.values()], ("127.0.0.1",))
            if report.failures or len(report.added) != len(paths):
                raise ArtWatchError(f"enrolling the demo portfolio failed: {report.failures}")
            seeds = {
                str(doc["_id"]): next(s for s, p in paths.items() if str(p) == doc["source"])
                for doc in store.artworks(artist)
            }
            jobs_run = run_cycle(store, settings, sources)
            failed = {job: error for job, error in jobs_run.items() if error != "ok"}
            outcome.problems += [f"job {job} failed: {error}" for job, error in failed.items()]
            missing = {f"{jobs.CRAWL_JOB_PREFIX}{s.name}" for s in sources.sources}
            missing = (missing | {jobs.DISPATCH_JOB_ID}) - set(jobs_run)
            outcome.problems += [f"job {job} did not run in time" for job in sorted(missing)]
            check(store, platform, seeds, outcome)
            check_inboxes(outcome, mail, hooks)
        outcome.problems += [f"the platform was asked for {path}" for path in platform.unknown]
    print_summary(folder, platform, outcome, mail, hooks)
    return outcome


def print_summary(
    folder: Path, platform: DemoPlatform, outcome: Outcome, mail: MailDrop, hooks: WebhookInbox
) -> None:
    copies = [p for p in platform.pictures if p.copy_of is not None]
    print()
    print(f"ArtWatch demo in {folder}")
    print(
        f"platform: {len(platform.pictures)} posts on a Mastodon timeline, an RSS feed and a "
        f"Bluesky feed; {len(copies)} are edited copies of {len(portfolio())} portfolio works"
    )
    for run in outcome.runs:
        counts = " ".join(f"{k}={v}" for k, v in (run.get("counts") or {}).items())
        print(f"crawl {run['source']}: {run.get('status')} {counts}")
    print("planted copies:")
    for picture, where, hit in outcome.found:
        verdict = f"{hit['kind']} (score {hit['score']:.2f})" if hit else "no match"
        print(f"  {picture.edit:<11} {picture.name:<20} on {where:<9} -> {verdict}")
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(outcome.hits_by_kind.items()))
    print(f"hits by kind: {kinds or 'none'}")
    print(
        f"alerts received: email {len(mail.messages)} (.eml files in {mail.folder}), "
        f"webhook {len(hooks.deliveries)} (signatures verified, {hooks.duplicates} duplicates, "
        f"{hooks.refused} refused; bodies in {hooks.folder})"
    )


def demo_command(
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to run (wiped first). Default: <data dir>/demo."),
    ] = None,
) -> None:
    """The whole flow offline: a local platform, one scheduled crawl cycle, alerts."""
    started = time.monotonic()
    outcome = run_demo(folder or Path(load_settings().artwatch_data_dir) / "demo")
    seconds = time.monotonic() - started
    if outcome.problems:
        for problem in outcome.problems:
            print(f"problem: {problem}")
        print(f"ArtWatch demo: FAILED after {seconds:.0f} s")
        raise typer.Exit(1)
    print(f"ArtWatch demo: OK in {seconds:.0f} s")
