"""Entry point of the embedded database process: nx-27017 with its exact update path.

nx-27017 0.8 translates simple updates into SQLite ``json_set`` calls, which store a
``$set`` datetime as a string and silently skip ``$addToSet``; its Python update path keeps
BSON types. ArtWatch sets datetimes with ``$set`` everywhere (leases, retries, run ends), so
the embedded server always runs with that path forced. Run as ``python -m artwatch.nxserver``
with nx-27017's own arguments.
"""

import sys

from neosqlite.collection.query_helper.utils import set_force_fallback
from nx_27017.nx_27017 import main

if __name__ == "__main__":
    set_force_fallback(True)
    sys.argv[0] = "nx-27017"
    main()
