"""Broker outage: cut every connection between the services and the broker for 10 s under load.

We cut the network (a proxy in front of the broker) rather than stop the broker: the embedded
broker keeps its data in memory only, and a partition is what production sees most often.
Intake must answer 503 + Retry-After while it cannot write and never 202 an unacknowledged
report; the services reconnect by themselves; afterwards every acknowledged report is routed
and reaches its clerk."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from signpost.runtime.settings import DEMO_BUNDLE
from signpost.system import LocalSystem, free_port
from tests.chaos.proxy import CuttableProxy
from tests.chaos.test_crash import routing_outcomes, wait_for_mail

pytestmark = pytest.mark.integration
OUTAGE_S = 10.0


async def steady_load(base_url: str, seconds: float, rate: float) -> list[tuple[float, int, str]]:
    """Post `rate` reports a second for `seconds`; (time sent, status, reference or header)."""
    results: list[tuple[float, int, str]] = []

    async def one(client: httpx.AsyncClient, i: int) -> None:
        sent = time.monotonic()
        body = {"category": "pothole", "description": f"outage {i}",
                "location": {"lat": 51.1, "lon": -1.3}}
        try:
            response = await client.post(f"{base_url}/v1/reports", json=body)
        except httpx.HTTPError as exc:
            results.append((sent, 0, type(exc).__name__))
            return
        detail = (response.json()["reference"] if response.status_code == 202
                  else response.headers.get("Retry-After", ""))
        results.append((sent, response.status_code, detail))

    async with httpx.AsyncClient(timeout=30) as client:
        tasks = []
        for i in range(int(seconds * rate)):
            tasks.append(asyncio.create_task(one(client, i)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    return results


def test_intake_refuses_honestly_and_services_recover(tmp_path: Path) -> None:
    broker_port, proxy_port = free_port(), free_port()
    proxy = CuttableProxy(proxy_port, broker_port)
    proxy.start()
    local = LocalSystem(bundle=DEMO_BUNDLE, log_dir=tmp_path / "logs", data_dir=tmp_path / "data",
                        advertised_port=proxy_port)
    local.ports.broker = broker_port
    outbox = tmp_path / "outbox"
    try:
        with local.running(outbox=outbox):
            local.wait_ready(timeout_s=90)
            loop = asyncio.new_event_loop()
            load = loop.create_task(steady_load(local.health_url("intake"), 25, 10))
            loop.run_until_complete(asyncio.sleep(5))
            proxy.cut()
            cut_at = time.monotonic()
            loop.run_until_complete(asyncio.sleep(OUTAGE_S))
            proxy.restore()
            results = loop.run_until_complete(load)
            loop.close()
            accepted = {detail for _, status, detail in results if status == 202}
            outcomes = asyncio.run(routing_outcomes(local.bootstrap, accepted, 120))
            mail = wait_for_mail(outbox, accepted, 120)
    finally:
        proxy.stop()

    statuses = Counter(status for _, status, _ in results)
    during = [(status, detail) for sent, status, detail in results
              if cut_at + 1 < sent < cut_at + OUTAGE_S - 6]  # requests that met the outage
    print(f"\nstatuses {dict(statuses)}; during the outage {Counter(s for s, _ in during)}")
    assert during and all(status == 503 and detail for status, detail in during), \
        "intake must answer 503 with Retry-After while the broker is unreachable"
    assert statuses[202] > 0 and set(statuses) <= {202, 503}
    assert not accepted - outcomes.keys(), "an acknowledged report was never routed"
    assert not accepted - mail.keys(), "an acknowledged report never reached its clerk"
