"""A crawl's Scrapy HTTP cache as a replay case: ``python -m tests.capture CACHE CASE ORIGIN``.

A user whose crawl went wrong runs it once more with Scrapy's file-system cache on (README,
"When a crawl reads nothing") and attaches the cache folder. This reads that folder (the
``meta`` files, a Python literal read with ``ast.literal_eval``; never the pickles, which
would run code from an attachment) and writes ``CASE/index.json`` plus one body file per
response for ``tests.replay.ReplayServer``. Responses from ``ORIGIN`` (the crawl's
``base_url``) become paths, and ``ORIGIN`` inside bodies and headers becomes ``{base}``, so
next-page links lead back to the replay server; other hosts (image CDNs) are left out.
"""

from __future__ import annotations

import ast
import json
import sys
import zlib
from pathlib import Path
from urllib.parse import urlsplit

# Headers the replay server sets itself, or that no longer describe the stored body.
DROPPED_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection", "date"}


def _headers(raw: bytes) -> dict[str, str]:
    headers = {}
    for line in raw.decode("latin-1").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() not in DROPPED_HEADERS:
            headers[name.strip()] = value.strip()
    return headers


def _decoded(body: bytes, raw_headers: bytes) -> bytes:
    # The cache sits below HttpCompressionMiddleware: bodies are stored as sent.
    encoding = _encoding(raw_headers)
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _encoding(raw: bytes) -> str:
    for line in raw.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-encoding":
            return value.strip().lower()
    return ""


def convert(cache_dir: Path, case_dir: Path, origin: str) -> list[dict]:
    """Write the case for every cached response from ``origin``; returns the index."""
    origin = origin.rstrip("/")
    case_dir.mkdir(parents=True, exist_ok=True)
    captured = []
    for meta_file in cache_dir.rglob("meta"):
        meta = ast.literal_eval(meta_file.read_text(encoding="utf-8"))
        url = urlsplit(meta["url"])
        if f"{url.scheme}://{url.netloc}" != origin:
            continue
        folder = meta_file.parent
        raw_headers = (folder / "response_headers").read_bytes()
        body = _decoded((folder / "response_body").read_bytes(), raw_headers)
        name = f"{folder.name}.body"
        (case_dir / name).write_bytes(body.replace(origin.encode(), b"{base}"))
        headers = {k: v.replace(origin, "{base}") for k, v in _headers(raw_headers).items()}
        path = url.path + (f"?{url.query}" if url.query else "")
        entry = {"method": meta["method"], "path": path, "status": int(meta["status"])}
        captured.append(
            (meta.get("timestamp", 0), {**entry, "headers": headers, "body_file": name})
        )
    index = [entry for _, entry in sorted(captured, key=lambda pair: pair[0])]
    (case_dir / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m tests.capture CACHE_DIR CASE_DIR ORIGIN")
    written = convert(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
    print(f"{len(written)} responses written to {sys.argv[2]}")
