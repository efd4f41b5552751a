"""A serving process's shutdown always ends: a timer armed when it begins exits the process if a step hangs.

uvicorn bounds the connections' drain (`GRACEFUL_SHUTDOWN_S`); nothing bounds the app's own shutdown (the usage
writer's last batch, the store), which a store that stops answering could hold open. Single-worker `serve` arms
one at the first exit signal (`commands/lifecycle.Server`); every serving process, each worker of
`serve --workers N` included, arms one when its lifespan's shutdown starts.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

GRACEFUL_SHUTDOWN_S = 10  # uvicorn's timeout_graceful_shutdown: open connections get this long
SHUTDOWN_MARGIN_S = 5  # then the lifespan's own shutdown (the usage writer's last batch, the store)
APP_SHUTDOWN_S = GRACEFUL_SHUTDOWN_S + SHUTDOWN_MARGIN_S  # the app's shutdown alone, once it has begun
EXIT_UNAVAILABLE = 1


def force_exit(limit: float) -> None:
    print(f"carbon-gateway: shutdown did not finish within {limit:g} s; exiting now", file=sys.stderr, flush=True)
    os._exit(EXIT_UNAVAILABLE)


def exit_after(limit: float, exit: Callable[[float], None] = force_exit) -> threading.Timer:
    """Call `exit(limit)` in `limit` seconds unless the returned timer is cancelled first."""
    timer = threading.Timer(limit, exit, args=(limit,))
    timer.daemon = True
    timer.start()
    return timer
