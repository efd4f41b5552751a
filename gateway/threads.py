"""The serving process's GIL hand-over: how long a thread may hold the interpreter while another waits for it.

The event loop shares the interpreter with the embedded store's writer thread, which runs a batch's Python
(~25 µs a record: summing counters, the ledger's JSON) between its SQLite calls. CPython makes a thread that
holds the GIL give it up only after the switch interval (5 ms by default) when another thread asks for it, so
the loop could wait up to 5 ms behind a batch even at one request at a time (the benchmark's loop-lag monitor
saw 5.1 ms at c=1, with 1.2 ms of it the loop's own work). At `SWITCH_INTERVAL_S` the loop waits at most about
that long; the extra hand-overs happen only while the writer runs and cost a few µs each.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.001


def shorten_switch_interval() -> float:
    """Set the process's switch interval to `SWITCH_INTERVAL_S` (serving processes only); the previous one."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return previous
