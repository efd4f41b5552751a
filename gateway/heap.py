"""The serving process's heap after start-up: what start-up built is kept out of the garbage collector's walks.

The config, the carbon catalogue, the routes and the imported modules are ~60,000 objects that live as long as
the process. CPython's full collections visit all of them: under load on the benchmark machine a full collection
took ~29 ms (one every few seconds at c=32), and the event loop serves nothing meanwhile. `settle()` collects
start-up's garbage once, then `gc.freeze()`s what is left: full collections then walk only what requests created
(~4 ms each measured). Only the serving process does this (`serve`), never an app a test builds and drops.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze the survivors out of future collections; how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
