"""The matching engine: decoding untrusted image bytes, fingerprint types, and the portfolio
index that looks fingerprints up and decides what counts as a hit. Values and pure functions
only: nothing here opens a file, a socket or a database, so the crawl, the CLI and the
benchmarks all call the same code."""
