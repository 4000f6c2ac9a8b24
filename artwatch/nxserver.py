"""Entry point of the embedded database process: nx-27017 with two of its bugs worked around.

nx-27017 0.8 (over neosqlite 1.17) has two update paths. Its fast SQL path stores a ``$set``
datetime as a string and silently skips ``$addToSet``; its Python path keeps BSON types but
cannot serialise plain ``bytes`` (how pymongo hands over BSON binary) when it rewrites a
document, so a ``$set`` of a thumbnail or a fingerprint fails. ArtWatch sets datetimes and
binary fields with ``$set``, so the embedded server runs with the Python path forced and its
JSON encoder taught to store ``bytes`` the way neosqlite stores its own ``Binary``. Run as
``python -m artwatch.nxserver`` with nx-27017's own arguments; tests/test_store_contract.py
checks both behaviours through pymongo.

nx-27017 has no authentication and listens on TCP, where every local user can connect. Given
a path as ``--host``, this entry point listens on a unix socket there instead, created 0600
(under umask 077, so every database file is 0600 too): only the owner can connect.
"""

import asyncio
import os
import sys

from neosqlite.binary import Binary
from neosqlite.collection import json_helpers
from neosqlite.collection.query_helper.utils import set_force_fallback
from nx_27017 import server
from nx_27017.nx_27017 import main

_serve_tcp = server.run_server


class _BytesAwareEncoder(json_helpers.NeoSQLiteJSONEncoder):
    def default(self, obj):
        if isinstance(obj, bytes | bytearray):
            return Binary(bytes(obj)).encode_for_storage()
        return super().default(obj)


async def _serve(host: str, port: int, handler) -> None:
    if not host.startswith("/"):
        await _serve_tcp(host, port, handler)
        return
    listener = await asyncio.start_unix_server(
        lambda reader, writer: server.handle_client(reader, writer, handler), path=host
    )
    os.chmod(host, 0o600)
    server.logger.info("Listening on unix socket %s", host)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    os.umask(0o077)
    server.run_server = _serve
    set_force_fallback(True)
    json_helpers.NeoSQLiteJSONEncoder = _BytesAwareEncoder
    sys.argv[0] = "nx-27017"
    main()
