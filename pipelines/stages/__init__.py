"""The Scrapy item pipelines, in crawl order: ``posts`` (normalise, skip finished posts, keep
the cursor), ``images`` (download and fingerprint), ``match`` (look up the portfolio) and
``persist`` (store images, post and hits), plus the item types passed between them
(``items``) and the extension that records each crawl in ``runs``. Each is named in
``ITEM_PIPELINES`` or ``EXTENSIONS`` by dotted path and built through ``from_crawler``."""
