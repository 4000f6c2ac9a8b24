"""Scrapy settings. Values come from ``artwatch.settings``; pipelines are dotted paths."""

from artwatch import __version__
from artwatch import settings as config
from artwatch.alerts.channels import channel_fields
from artwatch.settings import load_settings, load_sources

_env = load_settings()
_sources = load_sources()

BOT_NAME = "artwatch"
SPIDER_MODULES = list(config.SPIDER_MODULES)  # artwatch.settings lists the spiders from it
NEWSPIDER_MODULE = SPIDER_MODULES[0]

USER_AGENT = f"ArtWatch/{__version__} (+{_sources.contact_url})"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_TIMEOUT = 30
# 429 and 503 are waited out by crawler.middlewares.RateLimitRetryMiddleware instead.
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = _env.artwatch_log_level
FEED_EXPORT_ENCODING = "utf-8"

DOWNLOADER_MIDDLEWARES = {
    "pipelines.netguard.PrivateAddressGuard": 50,
    "crawler.middlewares.RateLimitRetryMiddleware": 555,
}
# URLs from responses (next pages, redirects) reach the downloader: only http(s) is fetched,
# every request passes the private-address guard, and the connection itself is opened only to
# a checked address (pipelines/netguard.py).
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
TWISTED_DNS_RESOLVER = "pipelines.netguard.GuardedResolver"
# Listing pages, API answers and robots.txt: a few MB at most (Scrapy's default is 1 GiB).
# Images ask for ARTWATCH_IMAGE_MAXSIZE per request (download_maxsize meta).
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024

# ArtWatch's own settings, read by components through from_crawler.
ARTWATCH_MONGODB_URI = _env.mongodb_uri
ARTWATCH_DB_NAME = _env.artwatch_db_name
ARTWATCH_DATA_DIR = str(_env.artwatch_data_dir)
ARTWATCH_STORE = "mongodb"  # "none": no database, cursors live only for the run
# 429/503 and exhausted rate-limit windows: the longest wait honoured, the wait when no
# header says, and how many times one request is retried (crawler/middlewares.py).
ARTWATCH_RATELIMIT_MAX_WAIT = 900.0
ARTWATCH_RATELIMIT_DEFAULT_WAIT = 60.0
ARTWATCH_RATELIMIT_RETRIES = 3
ARTWATCH_ALLOW_PRIVATE_HOSTS = list(_env.artwatch_allow_private_hosts)
# Alert channel -> the artist field it needs: a hit enqueues one alert per channel the artist has.
ARTWATCH_ALERT_CHANNELS = channel_fields(_env)

# From crawl to hit (pipelines/stages/: posts, images, match, persist).
ITEM_PIPELINES = {
    "pipelines.stages.posts.PostsStage": 100,
    "pipelines.stages.images.ImagesStage": 200,
    "pipelines.stages.match.MatchStage": 300,
    "pipelines.stages.persist.PersistStage": 400,
}
ADDONS = {"artwatch.crawl_addon.EmbeddedDatabase": 0}
EXTENSIONS = {"pipelines.stages.runs.RunRecorder": 500}
ARTWATCH_IMAGE_MAXSIZE = _env.artwatch_image_maxsize
ARTWATCH_FINGERPRINT_WORKERS = _env.artwatch_fingerprint_workers
ARTWATCH_FINGERPRINT_POOL = "process"  # or "thread"
ARTWATCH_MEDIA_CONCURRENCY = 0  # posts downloading/fingerprinting at once; 0: 4 per worker
ARTWATCH_DECODE_CPU_SECONDS = 10.0  # CPU time one image may take in a worker: decode_timeout
ARTWATCH_DECODE_MEMORY_MB = 1024  # data one fingerprinting worker may allocate: out_of_memory
ARTWATCH_PORTFOLIO_REFRESH = 30.0  # seconds between checks for a changed portfolio
ARTWATCH_MONGODB_TIMEOUT = 10.0  # seconds a write waits for MongoDB before the crawl stops
ARTWATCH_RUN_ID = None  # the scheduler passes the runs document it created
ARTWATCH_SOURCE = None  # the source name for the runs document; default: the spider name
ARTWATCH_PLATFORMS = {name: p.model_dump(mode="json") for name, p in _sources.platforms.items()}
ARTWATCH_CREDENTIALS = {
    "BLUESKY_HANDLE": _env.bluesky_handle,
    "BLUESKY_APP_PASSWORD": _env.bluesky_app_password,
    "REDDIT_CLIENT_ID": _env.reddit_client_id,
    "REDDIT_CLIENT_SECRET": _env.reddit_client_secret,
    "DEVIANTART_CLIENT_ID": _env.deviantart_client_id,
    "DEVIANTART_CLIENT_SECRET": _env.deviantart_client_secret,
    "CIVITAI_API_KEY": _env.civitai_api_key,
    "XHS_STORAGE_STATE": str(_env.xhs_storage_state) if _env.xhs_storage_state else None,
    "WEIBO_COOKIE": _env.weibo_cookie,
    "LOFTER_COOKIE": _env.lofter_cookie,
}

if _env.artwatch_redis_url:
    # Past one machine: crawl workers share one request queue and one dupefilter in Redis.
    # Not persisted: each run's frontier is flushed when it closes, so the next scheduled run
    # fetches the listing pages again.
    SCHEDULER = "scrapy_redis.scheduler.Scheduler"
    DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
    SCHEDULER_PERSIST = False
    REDIS_URL = _env.artwatch_redis_url
