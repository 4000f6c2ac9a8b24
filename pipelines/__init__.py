"""Everything that happens to a crawled item, and the engine it uses.

This package imports nothing else of ArtWatch: it receives its settings through Scrapy's
``from_crawler`` or as constructor arguments, so the crawl, the CLI and the benchmarks can
all use it.
"""
