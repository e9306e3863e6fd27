"""When intake cannot keep up it answers 429/503 with Retry-After instead of growing without bound."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.collect.conftest import IntakeServer


def batch(n: int, start: int = 0) -> dict[str, Any]:
    return {"batch": [{"type": "track", "event": "note_like", "messageId": f"m{start + i}", "userId": "u",
                       "properties": {"note_id": "n"}} for i in range(n)]}


def test_a_flooding_client_gets_429_with_retry_after(start_intake: Any) -> None:
    srv: IntakeServer = start_intake(client_events_per_s=5, client_burst=10)
    with srv.client(auth=(srv.keys.source, "")) as c:
        assert c.post("/v1/batch", json=batch(10)).status_code == 200
        limited = c.post("/v1/batch", json=batch(10, 10))
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
    with srv.client(auth=(srv.keys.admin, "")) as other:  # another key still gets through
        assert other.post("/v1/batch", json=batch(1, 50)).status_code == 200


def test_a_full_log_queue_gets_503_with_retry_after_and_nothing_is_lost(start_intake: Any) -> None:
    srv: IntakeServer = start_intake(queue_max=3, group_commit_ms=800, queue_soft_max=0)
    results: dict[str, Any] = {}

    def slow() -> None:
        with srv.client(auth=(srv.keys.source, "")) as c:
            results["first"] = c.post("/v1/batch", json=batch(3))

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 10
    with srv.client(auth=(srv.keys.source, "")) as c:
        while c.get("/v1/intake/health").json()["log"]["queue_depth"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = c.post("/v1/batch", json=batch(1, 100))
        thread.join()
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        assert results["first"].status_code == 200
        retried = c.post("/v1/batch", json=batch(1, 100))  # the client retries after Retry-After
        assert retried.status_code == 200 and retried.json()["accepted"] == 1
