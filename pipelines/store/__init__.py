"""The MongoDB store: one set of operations with a sync face (``Store``: CLI, service,
dashboard) and an async face (``AsyncStore``: the crawl), both applying the same
``(filter, update)`` pairs so a record looks the same whoever wrote it. Nothing outside this
package touches a collection directly."""
