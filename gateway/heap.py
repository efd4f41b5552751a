"""The serving process's heap after start-up: what start-up built is kept out of the garbage collector's walks.

The config, the carbon catalogue, the routes and the imported modules are ~60,000 objects that live as long as
the process. CPython's full collections visit all of them: under load on the benchmark machine a full collection
took ~29 ms (one every few seconds at c=32), and the event loop serves nothing meanwhile. `settle()` collects
start-up's garbage once, then `gc.freeze()`s what is left: full collections then walk only what requests created
(~4 ms each measured). Young collections then run every `YOUNG_THRESHOLD` allocations instead of 700: a young
collection walks what is alive and young (the requests in flight), not what was allocated since the last one,
so 14x fewer of them cost 14x less (A/B at c=32, 7 rounds: CPU per request x0.93-0.95); cycles a request leaves
wait a little longer to be freed. Only the serving process does this (`serve`), never an app a test builds and
drops.

`release()` hands the C heap's free pages back to the operating system (glibc's `malloc_trim`): glibc keeps what
was freed below memory still in use, so a burst (loading the tokenizer's tables at start, a yearly report's rows,
a spell of large batches) otherwise stays in the RSS for good. The serving process releases once settled, then
every `RELEASE_EVERY_S` from a thread of its own (`releasing()`; the call does not hold the GIL: ~0.3 ms measured).
"""

from __future__ import annotations

import ctypes
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)
RELEASE_EVERY_S = 30.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to release this way
        return None


_TRIM = _malloc_trim()


def settle() -> int:
    """Collect, freeze the survivors out of future collections, space young collections out; how many objects
    were frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    return gc.get_freeze_count()


def release() -> bool:
    """Free pages of the C heap back to the OS; whether any were (False without glibc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False


@contextmanager
def releasing(every_s: float = RELEASE_EVERY_S) -> Iterator[None]:
    """`release()` now and every `every_s` seconds until the block ends."""
    release()
    done = threading.Event()

    def run() -> None:
        while not done.wait(every_s):
            release()

    thread = threading.Thread(target=run, name="cg-heap-release", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1.0)
