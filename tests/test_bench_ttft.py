"""The benchmark's time to first token, timed in rounds (tests/bench/ttft.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tests.bench.ttft import added_ms, ttft_rounds
from tests.fakes.threaded import ThreadedFakeUpstream

MESSAGES = [{"role": "user", "content": "Hello"}]


def test_added_ttft_is_the_median_of_the_rounds_differences() -> None:
    ttft = {
        "upstream": {"p50_ms": 0.05, "runs_p50_ms": [0.05, 0.06, 0.04]},
        # One slow round (a slow spell of the machine hit this server alone) moves the median of differences
        # no more than it moves the median of p50s.
        "gateway": {"p50_ms": 0.55, "runs_p50_ms": [0.55, 0.56, 1.50]},
        "old": {"p50_ms": 0.70},  # a report from before the rounds: the p50s' difference
        "failed": {"error": "no content token"},
    }
    assert added_ms(ttft, "gateway") == 0.5
    assert added_ms(ttft, "old") == 0.65
    assert added_ms(ttft, "failed") is None and added_ms(ttft, "missing") is None
    assert added_ms({"gateway": ttft["gateway"]}, "gateway") is None  # no upstream figure


def test_ttft_rounds_time_every_target_in_each_round() -> None:
    with ThreadedFakeUpstream() as up:
        waits: list[str] = []
        order: list[str] = []
        target = SimpleNamespace(port=up.port, model="m", headers={})
        bench = SimpleNamespace(
            args=SimpleNamespace(repeat=3, ttft_requests=4),
            targets={
                "upstream": target,
                "again": target,
                "broken": SimpleNamespace(port=up.port, model="x", headers={}),
            },
            wait_quiet=lambda: waits.append("quiet"),
        )

        def body_for(model: str) -> bytes:
            order.append(model)
            reply = {"model": model, "messages": MESSAGES, "stream": True}
            if model == "x":  # a stream without any content token: that target's series fails
                reply["fake_behaviour"] = {"reply_text": ""}
            return json.dumps(reply).encode()

        figures = ttft_rounds(bench, "/v1/chat/completions", body_for)
    assert order == ["m", "m", "x", "m", "m", "m", "m"]  # in turns; the failed target is not timed again
    assert len(waits) == len(order)
    for name in ("upstream", "again"):
        rounds = figures[name]["runs_p50_ms"]
        assert len(rounds) == 3 and all(p50 > 0 for p50 in rounds)
        assert figures[name]["p50_ms"] == sorted(rounds)[1]
        assert figures[name]["p99_ms"] >= max(rounds)
    assert "no content token" in figures["broken"]["error"]
