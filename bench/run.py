"""`signpost bench`: one run, one embedded broker. Baselines first (plain aiokafka), then each
Signpost stage on its own topics, then the whole system end to end; a table (or JSON) with
each stage's ratio to its baseline and the targets, shown as met or not met."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import baselines, load, stages
from bench.kafka_io import produce
from bench.smtp_sink import Sink, SmtpSink
from bench.workload import submitted
from services.router.router import Router
from signpost.bundle import load_bundle
from signpost.runtime.kafka import encode
from signpost.runtime.loop import use_fast_event_loop
from signpost.runtime.settings import DEMO_BUNDLE, Topics
from signpost.system import SERVICES, LocalSystem


@dataclass(frozen=True)
class Plan:
    records: int = 20_000  # raw baselines and router preload
    notifier_records: int = 2_000
    intake_s: float = 10.0
    intake_concurrency: int = 16
    rate: float = 200.0
    duration_s: float = 60.0
    peak_step_s: float = 10.0
    peak_rates: tuple[float, ...] = (400, 800, 1600, 3200)

    @staticmethod
    def smoke() -> Plan:
        return Plan(records=500, notifier_records=30, intake_s=1.0, intake_concurrency=4,
                    rate=20, duration_s=2.0, peak_step_s=1.0, peak_rates=(40,))


TARGETS = {
    "router_ratio": (">=", 0.5), "intake_ratio": (">=", 0.3), "intake_p99_ms": ("<=", 50),
    "e2e_p99_ms": ("<=", 1000), "e2e_p50_ms": ("<=", 100), "max_rss_mb": ("<=", 150),
    "system_ready_s": ("<=", 15),
}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Bench:
    def __init__(self, plan: Plan, say: Any) -> None:
        self.plan, self.say = plan, say
        self.root = Path(tempfile.mkdtemp(prefix="signpost-bench-"))
        self.system = LocalSystem(bundle=DEMO_BUNDLE, log_dir=self.root / "logs",
                                  data_dir=self.root / "data")
        self.results: dict[str, Any] = {"plan": plan.__dict__ | {"peak_rates": list(
            plan.peak_rates)}, "logs": str(self.root / "logs")}
        self.rss: dict[str, float] = {}

    # --- process helpers -------------------------------------------------------------
    def sample_rss(self) -> None:
        for name in SERVICES:
            process = self.system.processes.get(name)
            if process and process.poll() is None:
                self.rss[name] = max(self.rss.get(name, 0.0), rss_mb(process.pid))

    def stop_service(self, name: str) -> None:
        self.system.stop_process(name)

    def start(self, name: str, topics: Topics, ready: bool = True) -> None:
        self.system.extra_env.update(stages.topic_env(topics))
        self.system.start_service(name)
        if ready:
            self.system.wait_ready((name,), timeout_s=90)

    # --- stages ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        use_fast_event_loop()  # baselines and load on the services' own event loop
        try:
            started = time.monotonic()
            self.say("starting the embedded broker")
            self.system.start_broker()
            self.results["broker_start_s"] = time.monotonic() - started
            with SmtpSink(self.system.ports.smtp) as sink:
                self.baselines()
                self.intake()
                self.router()
                self.notifier(sink)
                self.end_to_end(sink)
        finally:
            self.say("stopping")
            self.system.stop()
        self.results["rss_mb"] = self.rss
        self.results["max_rss_mb"] = max(self.rss.values()) if self.rss else float("nan")
        self.results["targets"] = self.targets()
        return self.results

    def baselines(self) -> None:
        bootstrap, n = stages.bootstrap(self.system), self.plan.records
        topics = stages.stage_topics("raw")
        stages.create_topics(self.system, topics)
        self.say(f"baseline: aiokafka produce, {n} records, acks=all, linger 5 ms")
        self.results["raw_produce_rate"] = asyncio.run(
            baselines.produce_rate(bootstrap, topics.submitted, n))
        self.say(f"baseline: aiokafka consume -> transform -> produce -> commit, {n} records")
        self.results["raw_loop_rate"] = asyncio.run(
            baselines.loop_rate(bootstrap, topics.routed, topics.triage, n))

    def intake(self) -> None:
        topics = stages.stage_topics("intake")
        stages.create_topics(self.system, topics)
        self.start("intake", topics)
        plan = self.plan
        self.say(f"intake: {plan.intake_concurrency} concurrent callers for {plan.intake_s:.0f} s")
        result = asyncio.run(load.closed_loop(self.system.health_url("intake"),
                                              plan.intake_concurrency, plan.intake_s))
        self.sample_rss()
        self.stop_service("intake")
        self.results.update(intake_rate=result.rate, intake_errors=result.errors,
                            intake_p50_ms=pct(result.latencies, 0.5) * 1000,
                            intake_p99_ms=pct(result.latencies, 0.99) * 1000)
        self.results["intake_ratio"] = result.rate / self.results["raw_produce_rate"]

    def router(self) -> None:
        def start() -> None:
            self.system.start_service("router")

        result = stages.run_router(self.system, self.plan.records, self.say, start)
        self.sample_rss()
        self.stop_service("router")
        self.results.update(router_rate=result.rate, router_outputs=result.outputs,
                            router_elapsed_s=result.elapsed_s,
                            router_ratio=result.rate / self.results["raw_loop_rate"])

    def notifier(self, sink: Sink) -> None:
        topics = stages.stage_topics("notifier")
        stages.create_topics(self.system, topics)
        n = self.plan.notifier_records
        self.say(f"notifier: preloading {n} routed reports")
        router, rng = Router(load_bundle(DEMO_BUNDLE)), random.Random(5)
        records: list[tuple[bytes | None, bytes]] = []
        i = 10_000_000
        while len(records) < n:
            i += 1
            outcome = router.route(submitted(i, rng).report)
            if outcome.event_type == "ReportRouted":
                records.append((outcome.reference.encode(), encode(outcome)))
        asyncio.run(produce(stages.bootstrap(self.system), topics.routed, records))
        before = sink.count()
        self.start("notifier", topics, ready=False)
        deadline = time.monotonic() + max(60.0, n / 20)
        while sink.count() - before < n and time.monotonic() < deadline:
            self.system.check_alive("notifier")
            time.sleep(0.1)
        self.sample_rss()
        self.stop_service("notifier")
        times = sink.times[before:]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        self.results.update(notifier_sent=len(times),
                            notifier_rate=len(times) / span if span else 0.0)

    def end_to_end(self, sink: Sink) -> None:
        plan, default = self.plan, Topics()
        stages.create_topics(self.system, default)
        self.say("end to end: starting intake, router and notifier")
        started = time.monotonic()
        for name in SERVICES:
            self.start(name, default, ready=False)
        self.system.wait_ready(timeout_s=90)
        self.results["services_ready_s"] = time.monotonic() - started
        self.results["system_ready_s"] = (self.results["services_ready_s"]
                                          + self.results["broker_start_s"])
        self.say(f"end to end: {plan.rate:.0f} reports/s for {plan.duration_s:.0f} s")
        step = self.offered(sink, plan.rate, plan.duration_s, grace_s=10)
        self.results.update({f"e2e_{k}": v for k, v in step.items()})
        peak_rate, steps = (plan.rate if step["ok"] else 0.0), []
        if step["ok"]:
            for rate in plan.peak_rates:
                self.say(f"peak: {rate:.0f} reports/s for {plan.peak_step_s:.0f} s")
                step = self.offered(sink, rate, plan.peak_step_s, grace_s=5)
                steps.append({"offered": rate, **step})
                if not step["ok"]:
                    break
                peak_rate = rate
        self.results["peak_sustainable_rate"] = peak_rate
        self.results["peak_steps"] = steps
        self.results["e2e_duplicate_mails"] = sink.duplicates

    def offered(self, sink: Sink, rate: float, duration_s: float,
                grace_s: float) -> dict[str, Any]:
        """Offer `rate` reports/s; latency from each 202 to its message at the SMTP server."""
        result = asyncio.run(load.open_loop(self.system.health_url("intake"), rate, duration_s))
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and not set(result.accepted) <= sink.arrived.keys():
            time.sleep(0.1)
        self.sample_rss()
        latencies = [sink.arrived[r] - t for r, t in result.accepted.items() if r in sink.arrived]
        missing = len(result.accepted) - len(latencies)
        p99 = pct(latencies, 0.99) * 1000
        return {"accepted": len(result.accepted), "accepted_rate": result.rate,
                "errors": result.errors, "delivered": len(latencies), "backlog": missing,
                "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": p99,
                "ok": bool(latencies) and missing == 0 and p99 <= 1000 and result.errors == 0
                and result.rate >= 0.9 * rate}

    def targets(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, (op, limit) in TARGETS.items():
            value = self.results.get(name, float("nan"))
            met = value >= limit if op == ">=" else value <= limit
            out[name] = {"value": value, "target": f"{op} {limit}", "met": bool(met)}
        return out


def table(results: dict[str, Any]) -> str:
    r = results
    rows = [
        ("broker: aiokafka produce (acks=all, linger 5 ms)",
         f"{r['raw_produce_rate']:,.0f} /s", ""),
        ("broker: aiokafka consume->transform->produce->commit", f"{r['raw_loop_rate']:,.0f} /s",
         ""),
        ("intake: accepted reports", f"{r['intake_rate']:,.0f} /s",
         f"ratio {r['intake_ratio']:.2f} of produce"),
        ("intake: latency p50 / p99", f"{r['intake_p50_ms']:.1f} / {r['intake_p99_ms']:.1f} ms",
         f"{r['intake_errors']} errors"),
        ("router: routed reports", f"{r['router_rate']:,.0f} /s",
         f"ratio {r['router_ratio']:.2f} of raw loop"),
        ("notifier: notifications to SMTP", f"{r['notifier_rate']:,.0f} /s",
         f"{r['notifier_sent']} sent"),
        (f"end to end at {r['plan']['rate']:.0f}/s: p50 / p99",
         f"{r['e2e_p50_ms']:.0f} / {r['e2e_p99_ms']:.0f} ms",
         f"{r['e2e_delivered']}/{r['e2e_accepted']} mailed"),
        ("end to end: peak sustainable rate", f"{r['peak_sustainable_rate']:,.0f} /s",
         " ".join(f"{s['offered']:.0f}:{'ok' if s['ok'] else 'no'}" for s in r["peak_steps"])),
        ("system ready (broker start + services ready)", f"{r['system_ready_s']:.1f} s", ""),
        ("resident memory (max)", f"{r['max_rss_mb']:.0f} MB",
         ", ".join(f"{k} {v:.0f}" for k, v in r["rss_mb"].items())),
    ]
    width = max(len(a) for a, _, _ in rows)
    lines = [f"{a:<{width}}  {b:>16}  {c}" for a, b, c in rows]
    lines += ["", "targets:"]
    for name, t in r["targets"].items():
        lines.append(f"  {name:<16} {t['value']:>10.2f}  {t['target']:<8}  "
                     f"{'met' if t['met'] else 'NOT MET'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="signpost bench", description=__doc__)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smoke", action="store_true", help="a tiny load, seconds (for CI)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--rate", type=float, help="end-to-end offered rate, reports/s (200)")
    p.add_argument("--duration", type=float, help="end-to-end duration, s (60)")
    p.add_argument("--records", type=int, help="router preload and baseline records (20000)")


def run(args: argparse.Namespace) -> int:
    plan = Plan.smoke() if args.smoke else Plan()
    changes = {k: v for k, v in (("rate", args.rate), ("duration_s", args.duration),
                                 ("records", args.records)) if v is not None}
    plan = Plan(**(plan.__dict__ | changes))

    def say(text: str) -> None:
        print(f"signpost bench | {text}", file=sys.stderr, flush=True)

    results = Bench(plan, say).run()
    if args.json:
        print(json.dumps(results, indent=2, default=float))
    else:
        print(table(results))
    return 0

