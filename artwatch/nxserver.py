"""Entry point of the embedded database process: nx-27017 with two of its bugs worked around.

nx-27017 0.8 (over neosqlite 1.17) has two update paths. Its fast SQL path stores a ``$set``
datetime as a string and silently skips ``$addToSet``; its Python path keeps BSON types but
cannot serialise plain ``bytes`` (how pymongo hands over BSON binary) when it rewrites a
document, so a ``$set`` of a thumbnail or a fingerprint fails. ArtWatch sets datetimes and
binary fields with ``$set``, so the embedded server runs with the Python path forced and its
JSON encoder taught to store ``bytes`` the way neosqlite stores its own ``Binary``. Run as
``python -m artwatch.nxserver`` with nx-27017's own arguments; tests/test_store_contract.py
checks both behaviours through pymongo.
"""

import sys

from neosqlite.binary import Binary
from neosqlite.collection import json_helpers
from neosqlite.collection.query_helper.utils import set_force_fallback
from nx_27017.nx_27017 import main


class _BytesAwareEncoder(json_helpers.NeoSQLiteJSONEncoder):
    def default(self, obj):
        if isinstance(obj, bytes | bytearray):
            return Binary(bytes(obj)).encode_for_storage()
        return super().default(obj)


if __name__ == "__main__":
    set_force_fallback(True)
    json_helpers.NeoSQLiteJSONEncoder = _BytesAwareEncoder
    sys.argv[0] = "nx-27017"
    main()
