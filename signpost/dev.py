"""`signpost dev`: the whole system on an embedded broker with the demo bundle, in one terminal."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

from signpost.system import SERVICES, LocalSystem, Ports, free_port

EXAMPLE = """\
Try it:
  curl -s -X POST http://127.0.0.1:{port}/v1/reports -H 'Content-Type: application/json' \\
    -d '{{"category": "bus_shelter", "description": "Glass panel smashed",
         "location": {{"lat": 51.05, "lon": -1.55}}}}'
"""


class Interrupted(Exception):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def run_dev(port: int, outbox: Path | None, bundle: Path) -> int:
    started = time.monotonic()
    # Development: intake takes calls without an API key (it says so once at start).
    system = LocalSystem(bundle=bundle, ports=Ports(broker=free_port(), intake=port),
                         open_intake=True)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _say(f"starting embedded broker on 127.0.0.1:{system.ports.broker}")
        system.start_broker()
        _say(f"local mail server on 127.0.0.1:{system.ports.smtp}"
             + (f", writing messages to {outbox}/" if outbox else ""))
        system.start_mailcatcher(outbox)
        for name in SERVICES:
            _say(f"starting {name}")
            system.start_service(name)
        _say(f"intake listening on http://127.0.0.1:{port}")
        system.wait_ready(timeout_s=60)
        _say(f"ready in {time.monotonic() - started:.1f} s: reports can be routed "
             f"(bundle: {bundle}). Ctrl-C stops everything.")
        print(EXAMPLE.format(port=port), flush=True)
        while True:
            for name in SERVICES:
                system.check_alive(name)
            time.sleep(0.5)
    except Interrupted:
        _say("stopping")
        return 0
    except (RuntimeError, TimeoutError) as exc:
        _say(f"error: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        system.stop()
        _say("stopped")


def _say(text: str) -> None:
    print(f"signpost dev | {text}", flush=True)
