"""The fuzz suite's gateway: the app in-process with the faulty upstream as its `scripted` model, one tenant
with limits (every request reserved on its own, so a leaked reservation shows), the admin API on; and the
invariants checked after every call, with the tallies FUZZ_REPORT writes."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.gateway import Gateway
from tests.fakes.faulty import SECRET, FaultyUpstream
from tests.fuzz.strategies import ADMIN_KEY, TENANT, TENANT_KEY, Call
from tests.support.inprocess import edge, edge_config

ALLOWED_5XX = {502, 503, 504}  # upstream and store faults, in OpenAI's shape
ERROR_KEYS = {"message", "type", "param", "code"}


class Traces(logging.Handler):
    """Distinct errors the gateway logged with a traceback (its bugs): type and innermost frame."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc, tb = record.exc_info[1], record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
            self.seen[f"{type(exc).__name__} at {where}"] += 1


class Harness:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loop = asyncio.new_event_loop()
        self.upstream = FaultyUpstream()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.requests = 0
        self.served = 0  # the tenant's requests that produced usage (so must be counted)
        self.client_5xx = 0
        self.failures: list[str] = []
        self.traces = Traces()
        self.client: httpx.AsyncClient
        self.gw: Gateway
        self._saved = {name: os.environ.get(name) for name in ("GATEWAY_ADMIN_KEY", "CGTEST_FUZZ_KEY")}

    def start(self) -> None:
        os.environ["GATEWAY_ADMIN_KEY"] = ADMIN_KEY
        os.environ["CGTEST_FUZZ_KEY"] = TENANT_KEY
        models = edge_config(self.directory)["model_list"]
        models[0]["litellm_params"]["api_key"] = SECRET
        tenants = [{"id": TENANT, "keys": ["os.environ/CGTEST_FUZZ_KEY"], "limits": {"tokens_per_month": 10**13}}]
        store = {"state_dir": str(self.directory / "state"), "lease_requests": 0}
        self._edge = edge(self.directory, self.upstream, model_list=models, tenants=tenants, store=store)
        self.client, self.gw = self.loop.run_until_complete(self._edge.__aenter__())
        logging.getLogger("carbon_gateway").addHandler(self.traces)

    def stop(self) -> None:
        logging.getLogger("carbon_gateway").removeHandler(self.traces)
        try:
            self.loop.run_until_complete(self._edge.__aexit__(None, None, None))
        finally:
            self.loop.close()
            for name, value in self._saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def run(self, call: Call) -> None:
        """Send `call`, check every invariant; raise AssertionError naming the first one broken."""
        self.loop.run_until_complete(self._run(call))

    async def _run(self, call: Call) -> None:
        self.upstream.fault = call.fault
        response = await self.client.request(
            call.method, call.path, content=call.body, headers=call.headers, params=call.params
        )
        self.requests += 1
        self.statuses[response.status_code] += 1
        status = response.status_code
        tenant = call.headers.get("authorization") == f"Bearer {TENANT_KEY}"
        # A usage already tracked under the same request id answers 200 `duplicate: true`: nothing new to count.
        duplicate = call.path == "/v1/carbon/track" and _duplicate(response)
        if call.proxied and status in (200, 201) and tenant and not duplicate:
            self.served += 1
        if status >= 500 and call.fault == "normal":
            self.client_5xx += 1  # the upstream behaved: a 5xx here is the client's input's doing
        assert status < 500 or status in ALLOWED_5XX, f"{status} on {call.path}: {response.text[:300]}"
        assert status < 500 or call.fault != "normal", f"{status} with a sound upstream: {response.text[:300]}"
        assert SECRET not in response.text, "the upstream key reached the client"
        if status >= 400:
            error = orjson.loads(response.content)["error"]
            assert set(error) == ERROR_KEYS, error
            assert isinstance(error["message"], str) and isinstance(error["type"], str)
            assert error["code"] is None or isinstance(error["code"], str), error
            assert error["param"] is None or isinstance(error["param"], str), error
        elif response.headers.get("content-type", "").startswith("text/event-stream"):
            _check_stream_end(response.text)
        health = await self.client.get("/healthz")
        assert health.status_code == 200, "the gateway stopped answering /healthz"
        lost, leaked = await self.ledger_check()
        assert lost == 0, f"{lost} served request(s) not counted"
        assert leaked == 0, f"{leaked} reservation(s) leaked"

    async def ledger_check(self) -> tuple[int, int]:
        """(served but not counted, reservations still held) for the tenant, once the writer is done."""
        accounting = self.gw.accounting
        await asyncio.wait_for(accounting.writer.flush(), 30)
        while accounting._pending:
            await asyncio.gather(*accounting._pending, return_exceptions=True)
        usage = await self.gw.store.reports.usage(TENANT, time.strftime("%Y-%m", time.gmtime()))
        leaked = await self.gw.store.meter.outstanding_reservations(TENANT)
        return self.served - int(usage["totals"]["requests"]), leaked

    def report(self, examples: int) -> dict[str, Any]:
        lost, leaked = self.loop.run_until_complete(self.ledger_check())
        return {
            "examples": examples,
            "requests": self.requests,
            "status_counts": {str(k): v for k, v in sorted(self.statuses.items())},
            "5xx": sum(v for k, v in self.statuses.items() if k >= 500),
            "500": self.statuses.get(500, 0),
            "5xx_with_sound_upstream": self.client_5xx,
            "served_to_tenant": self.served,
            "usage_lost": lost,
            "leaked_reservations": leaked,
            "distinct_traces": len(self.traces.seen),
            "traces": dict(self.traces.seen.most_common(20)),
            "failures": self.failures[:20],
        }


def _check_stream_end(text: str) -> None:
    events = [event for event in text.replace("\r\n", "\n").split("\n\n") if event.strip()]
    assert events, "an empty stream"
    last = events[-1]
    if last.startswith("data: [DONE]") or last.startswith("event: response.completed"):
        return
    if last.startswith("event: error\ndata: "):  # the Responses API's error event
        obj = orjson.loads(last.split("\n", 1)[1][6:])
        assert obj["type"] == "error" and isinstance(obj["message"], str), obj
        return
    if last.startswith("data: {"):
        obj = orjson.loads(last[6:])
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            assert set(obj["error"]) == ERROR_KEYS, obj
            return
        if isinstance(obj, dict) and obj.get("type") == "response.completed":
            return
    raise AssertionError(f"the stream ended neither with [DONE] nor an error event: {last[:200]!r}")


def _duplicate(response: httpx.Response) -> bool:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("duplicate") is True
