"""The MongoDB store: one set of operations (``operations``) with a sync face (``Store``: CLI,
service, dashboard) and an async face (``AsyncStore``: the crawl), so a record looks the same
whoever wrote it; the pure ``(filter, update)`` pairs they apply live in ``writes``, ``hits``
and ``alerts`` (enqueueing), the dispatcher's claims in ``outbox``. Nothing outside this
package touches a collection directly."""
