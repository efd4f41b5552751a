"""Usage records the store refused, kept for inspection: one JSON line each in `<state dir>/dead-letter.jsonl`.

The usage writer counts a batch in one store call; when that call fails for something other than an outage
(a record the store cannot hold), it counts the batch's records one by one, so the others are counted, and
hands the failing one here, with the error. Each line: `{"at", "error", "reservation_id", "record"}` (the
record as the ledger keeps it). Should the file itself be unwritable, the line goes to the error log instead:
a record is never dropped without a trace.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson

from meters.store.records import record_to_dict
from meters.usage import UsageRecord

log = logging.getLogger("carbon_gateway.metering")

FILE_NAME = "dead-letter.jsonl"


class DeadLetters:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def keep(self, reservation_id: str | None, record: UsageRecord, error: BaseException) -> None:
        line = orjson.dumps(
            {
                "at": time.time(),
                "error": f"{type(error).__name__}: {error}"[:500],
                "reservation_id": reservation_id,
                "record": record_to_dict(record),
            }
        )
        log.error(
            "usage record %s of tenant %s (%d + %d tokens) could not be counted (%s): kept in %s",
            record.request_id,
            record.tenant_id,
            record.prompt_tokens,
            record.completion_tokens,
            type(error).__name__,
            self.path,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as out:
                out.write(line + b"\n")
        except OSError as exc:
            log.error("dead-letter file %s not writable (%s); the record: %s", self.path, exc, line.decode())
