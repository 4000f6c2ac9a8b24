"""The MongoDB store: one set of operations (``operations``) with a sync face (``Store``: CLI,
service, dashboard) and an async face (``AsyncStore``: the crawl), so a record looks the same
whoever wrote it; the pure ``(filter, update)`` pairs they apply live in ``writes``, ``hits``
and ``alerts`` (enqueueing), the dispatcher's claims in ``outbox``. Nothing outside this
package touches a collection directly."""

import logging

# pymongo's DEBUG command log quotes whole documents — login token hashes, webhook secrets,
# artists' addresses — into whatever log ARTWATCH_LOG_LEVEL=DEBUG writes: never below WARNING.
logging.getLogger("pymongo").setLevel(logging.WARNING)
