"""The whole stack as `rucnet dev` runs it reproduces Skolverket's published 2020 figures."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import httpx
import pytest

from rucnet.dataset2020 import expected_national_2020, plan_2020
from tests.e2e.conftest import DevStack


async def submit_all(stack: DevStack, tokens: dict[str, str]) -> None:
    """Each RUC sends its reports in order; the 18 RUC send at the same time."""
    plan = plan_2020()
    by_ruc: dict[str, list[dict[str, Any]]] = {}
    for submission in plan:
        by_ruc.setdefault(submission.ruc_id, []).append(submission.payload)

    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=30) as client:

        async def ruc_sends(ruc_id: str, reports: list[dict[str, Any]]) -> None:
            headers = {"Authorization": f"Bearer {tokens[ruc_id]}"}
            for report in reports:
                response = await client.post("/api/v1/reports", json=report, headers=headers)
                assert response.status_code == 202, response.text

        await asyncio.gather(*(ruc_sends(r, reports) for r, reports in by_ruc.items()))


def national(stack: DevStack, token: str) -> dict[str, Any]:
    response = httpx.get(
        stack.url("aggregator") + "/api/v1/stats/national",
        params={"year": 2020},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counted(stats: dict[str, Any]) -> dict[str, Any]:
    """The stats as the PM prints them: zero rows left out."""
    return {
        "started": {
            "insatser": stats["started"]["insatser"],
            "by_school_form": {k: v for k, v in stats["started"]["by_school_form"].items() if v},
        },
        "completed": {
            "insatser": stats["completed"]["insatser"],
            "by_nsp": {k: v for k, v in stats["completed"]["by_nsp"].items() if v},
        },
    }


def wait_for(stack: DevStack, token: str, expected: dict[str, Any], timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = counted(national(stack, token))
        if stats == expected or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def test_rucnet_dev_counts_the_2020_reports_as_the_pm_and_keeps_them_across_restarts(
    dev_stack: DevStack,
) -> None:
    dev_stack.start()
    tokens = {ruc: dev_stack.cli("token", "create", "--ruc", ruc).strip() for ruc in sorted(_rucs())}
    skolverket = dev_stack.cli("token", "create", "--role", "skolverket").strip()
    assert all(t.startswith("rucnet_") and len(t) > 40 for t in tokens.values())
    expected = expected_national_2020()

    started = time.monotonic()
    asyncio.run(submit_all(dev_stack, tokens))
    submitted = time.monotonic()
    stats = wait_for(dev_stack, skolverket, expected)
    counted_at = time.monotonic()
    assert stats == expected
    print(
        f"\n2020 data set: {len(plan_2020())} reports submitted in {submitted - started:.1f} s, "
        f"all counted {counted_at - started:.1f} s after the first submission"
    )

    # A service killed outright is restarted by `rucnet dev`, and nothing is counted twice.
    aggregator_pid = dev_stack.children()["aggregator"]
    os.kill(aggregator_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while dev_stack.children().get("aggregator") in (None, aggregator_pid):
        assert time.monotonic() < deadline, "rucnet dev did not restart the aggregator"
        time.sleep(0.2)

    # A whole restart: the broker comes back empty, intake re-sends, the counts stay the same.
    assert dev_stack.stop() == 0
    dev_stack.start()
    assert counted(national(dev_stack, skolverket)) == expected
    replayed = _wait_metric(dev_stack, 'rucnet_aggregator_events_total{outcome="duplicate"', len(plan_2020()))
    assert replayed >= len(plan_2020())
    assert counted(national(dev_stack, skolverket)) == expected


@pytest.mark.timeout(900)
def test_rucnet_dev_on_apache_kafka_counts_2020_exactly_through_kill_9_of_the_broker_and_each_service(
    dev_stack: DevStack,
) -> None:
    dev_stack.broker = "kafka"
    dev_stack.start(timeout_s=180)
    tokens = {ruc: dev_stack.cli("token", "create", "--ruc", ruc).strip() for ruc in sorted(_rucs())}
    skolverket = dev_stack.cli("token", "create", "--role", "skolverket").strip()
    expected = expected_national_2020()
    asyncio.run(submit_all(dev_stack, tokens))
    assert wait_for(dev_stack, skolverket, expected) == expected

    # kill -9 the broker: `rucnet dev` starts it again on its data, and the services reconnect.
    broker = dev_stack.broker_pid()
    assert broker is not None
    os.kill(broker, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while dev_stack.broker_pid() in (None, broker):
        assert time.monotonic() < deadline, "rucnet dev did not restart the broker"
        time.sleep(0.2)
    for service in ("intake", "classifier", "aggregator"):
        pid = dev_stack.children()[service]
        os.kill(pid, signal.SIGKILL)
        while dev_stack.children().get(service) in (None, pid):
            assert time.monotonic() < deadline + 60, f"rucnet dev did not restart {service}"
            time.sleep(0.2)
    for service in ("intake", "classifier", "aggregator"):
        while not dev_stack._healthy(service):
            assert time.monotonic() < deadline + 120, f"{service} not healthy again"
            time.sleep(0.3)
    # Everything again through the restarted broker and services: corrections of what is counted.
    asyncio.run(submit_all(dev_stack, tokens))
    assert wait_for(dev_stack, skolverket, expected) == expected

    # A whole restart: Kafka kept its log, so nothing is sent again and the counts stay.
    assert dev_stack.stop() == 0
    dev_stack.start(timeout_s=180)
    assert counted(national(dev_stack, skolverket)) == expected
    verified = dev_stack.cli("aggregates", "verify")
    assert "clean" in verified


def _rucs() -> set[str]:
    from shared.reference import load_reference

    return set(load_reference().ruc_ids)


def _wait_metric(stack: DevStack, prefix: str, at_least: float, timeout_s: float = 90) -> float:
    deadline = time.monotonic() + timeout_s
    total = 0.0
    while time.monotonic() < deadline:
        text = httpx.get(stack.url("aggregator") + "/metrics", timeout=5).text
        total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))
        if total >= at_least:
            break
        time.sleep(0.3)
    return total
