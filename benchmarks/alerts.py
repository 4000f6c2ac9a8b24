"""Alert throughput: enqueue, then dispatch passes by one and by two concurrent dispatchers.

Run ``python -m benchmarks.alerts [--hits N]``. Everything is real and local: the embedded
nx-27017 server (one database per scenario), aiosmtpd on 127.0.0.1 and a stdlib HTTP
receiver. Each hit has two alerts (email and webhook). The two-dispatcher rows also count
duplicate deliveries, which must be zero. Prints one table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from PIL import Image

from artwatch.alerts.dispatcher import Dispatcher
from artwatch.alerts.email import EmailChannel
from artwatch.alerts.webhook import WebhookChannel
from artwatch.embedded import EmbeddedMongo, free_port
from artwatch.settings import Alerts
from pipelines.store.sync import Store
from pipelines.store.writes import utcnow

LOCAL = ("127.0.0.1",)


class Counting:
    """SMTP handler and webhook counter in one: delivery ids seen, with repeats."""

    def __init__(self) -> None:
        self.ids: Counter = Counter()
        self.lock = threading.Lock()

    def add(self, delivery_id: str) -> None:
        with self.lock:
            self.ids[delivery_id] += 1

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.content.splitlines():
            if line.startswith(b"X-ArtWatch-Delivery:"):
                self.add("email:" + line.split(b":", 1)[1].strip().decode())
        return "250 OK"


def _receiver(counter: Counting) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            counter.add("webhook:" + self.headers["X-ArtWatch-Delivery"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 30, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def _fill(store: Store, hits: int, webhook_url: str) -> float:
    """Store ``hits`` hits and enqueue their alerts; returns the enqueue seconds."""
    artist_id = store.add_artist("Bench", "bench@example.org", webhook_url, "secret")
    artist = store.artist(artist_id)
    thumbnail = _jpeg()
    artwork_id, _ = store.add_artwork(
        artist_id, "f" * 64, {"filename": "bench.png", "thumbnail": thumbnail}
    )
    stored = []
    for number in range(hits):
        hit = {
            "artwork_id": artwork_id,
            "image_id": f"{number:064x}",
            "post_id": f"mastodon:{number}",
            "status": "new",
            "found_at": utcnow(),
            "artist_id": artist_id,
            "kind": "near",
            "score": 0.9,
            "platform": "mastodon",
            "post_url": f"http://127.0.0.1/@bot/{number}",
            "text": "bench #aiart",
            "thumbnail": thumbnail,
        }
        hit_id, _ = store.upsert_hit(hit)
        stored.append((hit_id, {"artwork_id": artwork_id, "kind": "near"}))
    started = time.perf_counter()
    for hit_id, hit in stored:
        store.enqueue_alerts(hit_id, hit, artist)
    return time.perf_counter() - started


def _dispatchers(store: Store, count: int, smtp_port: int) -> list[Dispatcher]:
    return [
        Dispatcher(
            store,
            {
                "email": EmailChannel(f"smtp://127.0.0.1:{smtp_port}", "bench@artwatch.test"),
                "webhook": WebhookChannel(LOCAL),
            },
            Alerts(flood_threshold=10**6),
            allow=LOCAL,
        )
        for _ in range(count)
    ]


def _drain(dispatchers: list[Dispatcher]) -> tuple[float, Counter]:
    now = datetime.now(UTC)
    results: list[Counter] = [Counter() for _ in dispatchers]

    def run(index: int) -> None:
        results[index] = dispatchers[index].run_pass(now)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(dispatchers))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sum(results, Counter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=200)
    hits = parser.parse_args().hits
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedMongo(Path(folder))
        uri = server.start()
        counter = Counting()
        smtp_port = free_port()
        smtp = Controller(counter, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        receiver = _receiver(counter)
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        try:
            for workers in (1, 2):
                counter.ids.clear()
                with Store(uri, f"bench_{uuid.uuid4().hex[:8]}") as store:
                    enqueue = _fill(store, hits, url)
                    seconds, outcomes = _drain(_dispatchers(store, workers, smtp_port))
                alerts = 2 * hits
                duplicates = sum(n - 1 for n in counter.ids.values())
                rows.append((workers, alerts, enqueue, seconds, outcomes["sent"], duplicates))
        finally:
            receiver.shutdown()
            smtp.stop()
            server.stop()
    print(f"Alert dispatch, {hits} hits x (email + webhook), embedded nx-27017, local servers")
    print(
        f"{'dispatchers':>11} {'alerts':>7} {'enqueue/s':>10} {'dispatch s':>11} "
        f"{'sent/s':>8} {'sent':>6} {'duplicates':>10}"
    )
    for workers, alerts, enqueue, seconds, sent, duplicates in rows:
        print(
            f"{workers:>11} {alerts:>7} {alerts / enqueue:>10.0f} {seconds:>11.2f} "
            f"{sent / seconds:>8.1f} {sent:>6} {duplicates:>10}"
        )


if __name__ == "__main__":
    main()
