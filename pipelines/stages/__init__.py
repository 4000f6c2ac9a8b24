"""The Scrapy item pipelines, in crawl order: ``posts`` (normalise, skip finished posts, keep
the cursor), ``images`` (download and fingerprint), ``match`` (look up the portfolio) and
``persist`` (store images, post and hits), plus the item types passed between them. Each is
named in ``ITEM_PIPELINES`` by dotted path and built through ``from_crawler``."""
