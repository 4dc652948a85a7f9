"""HTTP load against the real intake: closed loop (N concurrent callers) and open loop
(a fixed offered rate, each request at its scheduled time whatever the answers' pace)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.workload import request_body, routable_bodies


@dataclass
class Load:
    accepted: dict[str, float] = field(default_factory=dict)  # reference -> time of the 202
    latencies: list[float] = field(default_factory=list)  # seconds, accepted requests only
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.accepted) / self.elapsed_s if self.elapsed_s else 0.0


async def _post(client: aiohttp.ClientSession, url: str, body: dict[str, Any],
                load: Load) -> None:
    started = time.perf_counter()
    try:
        async with client.post(url, json=body) as response:
            answer = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError):
        load.errors += 1
        return
    if status == 202:
        load.latencies.append(time.perf_counter() - started)
        load.accepted[answer["reference"]] = time.time()
    else:
        load.errors += 1


def _client(connections: int) -> aiohttp.ClientSession:
    # aiohttp, not httpx: httpx spent ~4 ms of CPU per request here, more than the intake
    # itself, so the load generator was the bottleneck on a 2-core machine.
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                 connector=aiohttp.TCPConnector(limit=connections))


async def closed_loop(base_url: str, concurrency: int, duration_s: float, seed: int = 3) -> Load:
    load, rng = Load(), random.Random(seed)
    url = f"{base_url}/v1/reports"
    async with _client(concurrency) as client:
        await _post(client, url, request_body(rng), Load())  # warm the connection and app
        deadline = time.perf_counter() + duration_s

        async def caller() -> None:
            while time.perf_counter() < deadline:
                await _post(client, url, request_body(rng), load)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        load.elapsed_s = time.perf_counter() - started
    return load


_ROUTABLE: list[dict[str, Any]] = []
MAX_IN_FLIGHT = 128


async def open_loop(base_url: str, rate: float, duration_s: float) -> Load:
    """Only reports the bundle routes to an owner, so each accepted one should be mailed."""
    if not _ROUTABLE:
        _ROUTABLE.extend(routable_bodies(500))
    load = Load()
    url = f"{base_url}/v1/reports"
    # Bound the requests in flight so an overloaded intake shows as latency, not as a
    # load generator drowning in its own queue.
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def post(body: dict[str, Any]) -> None:
        async with in_flight:
            await _post(client, url, body, load)

    async with _client(MAX_IN_FLIGHT) as client:
        started = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        total = int(rate * duration_s)
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = _ROUTABLE[i % len(_ROUTABLE)]
            tasks.append(asyncio.create_task(post(body)))
        await asyncio.gather(*tasks)
        load.elapsed_s = time.perf_counter() - started
    return load
