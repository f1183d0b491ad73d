"""Recovery from an outage: how soon thousands of open pages show the truth once Redis is back.

::

    python -m bench.recovery [--sockets 2000] [--users 10] [--away 20]

starts a Redis of its own (persisting, so it restarts on the same data), a one-engine local
cluster (the app needs one to start) and the demo app (``python -m app``) on them. It makes
``users`` accounts, each with a running job (written as an engine writes one), and opens
``sockets`` live-list websockets spread over them: the tabs. Each tab reconnects as moi.js
does, with its constants read from ``moi/static/moi.js``: full-jitter backoff, and the probe
(``/moi-ws/ready``) when a socket could not open or was closed 1012 or 1013 (as the hub closes
them when it loses Redis). Then Redis stops for ``away`` seconds and
starts again on the same data, each job's end is written at once (as an engine's final write,
which waited for Redis, lands), and each tab's **recovery** is the time from Redis's return
until it shows its job's end: it has reconnected and its new list says ``Success``.

The figures: recovery p50 / p99 / max, the peak of reconnects per second (successful upgrades
in any one second, the storm the server must take), and what the tabs asked while Redis was
away (upgrades and probes per second). All in well under two minutes on two cores, most of it
the outage. :func:`outage` is the measurement alone; ``tests/faults/test_recovery.py`` runs it
with 200 tabs against an app it starts itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import http.cookiejar
import json
import math
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import redis

from bench.harness import store_jobs
from bench.wsserver import raise_fd_limit
from moi import config, keys, record
from moi.embedded import LocalCluster, RedisServer, free_port
from moi.status import Status

REPO_ROOT = Path(__file__).resolve().parent.parent
MOI_JS = REPO_ROOT / "moi" / "static" / "moi.js"
PASSWORD = "bench recovery passphrase"
SETTLE = 60.0
"""Seconds every tab has to connect at first, and to show its job's end after the outage."""
BATCH = 100
"""Tabs opened together at the start (pages are not all loaded in the same instant)."""


@dataclasses.dataclass(frozen=True)
class Policy:
    """moi.js's reconnect constants, in seconds."""

    start: float
    longest: float
    probe_timeout: float
    away: tuple[int, ...]
    away_codes: tuple[int, ...]

    @classmethod
    def of_moi_js(cls, path: Path = MOI_JS) -> Policy:
        source = path.read_text(encoding="utf-8")

        def constant(name: str) -> str:
            found = re.search(rf"const {name} = ([^;]+);", source)
            if found is None:
                raise ValueError(f"no {name} in {path}")
            return found.group(1)

        return cls(
            start=int(constant("BACKOFF_START_MS")) / 1000,
            longest=int(constant("BACKOFF_MAX_MS")) / 1000,
            probe_timeout=int(constant("PROBE_TIMEOUT_MS")) / 1000,
            away=tuple(json.loads(constant("AWAY"))),
            away_codes=tuple(json.loads(constant("AWAY_CODES"))),
        )


@dataclasses.dataclass
class Counts:
    """Times (monotonic) of what all tabs did: tried an upgrade, got one, asked the probe."""

    tries: list[float] = dataclasses.field(default_factory=list)
    upgrades: list[float] = dataclasses.field(default_factory=list)
    probes: list[float] = dataclasses.field(default_factory=list)


class Tab:
    """One open page's connection, reconnecting as moi.js's ``Connection`` does."""

    def __init__(self, port: int, cookie: str, job_id: str, policy: Policy, counts: Counts):
        self.port = port
        self.cookie = cookie
        self.job = job_id.encode()
        self.policy = policy
        self.counts = counts
        self.delay = policy.start
        self.listed = asyncio.Event()  # the server's list came on the current socket
        self.ended_at: float | None = None  # when it first showed its job's end
        self.ended = asyncio.Event()
        self.signed_out = False
        self.close_code: int | None = None  # of the last socket the server closed
        self._writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        probe_next = False
        trusted = distrust = False  # as moi.js's _trusted and _distrust
        while True:
            if not probe_next:
                opened = await self._socket()
                if self.signed_out:
                    return
                distrust = not opened and (trusted or distrust)
                if opened:
                    await self._later()
                    probe_next = self.close_code in self.policy.away_codes
                    continue
                probe_next = True  # refused before the upgrade, or no server: ask why
            status = await self._probe()
            if status in (401, 403):
                self.signed_out = True
                return
            if status in self.policy.away:
                await self._later()
                continue
            probe_next = False
            trusted = 200 <= status < 300 and not distrust
            if not trusted:
                await self._later()

    async def _later(self) -> None:
        wait = random.random() * self.delay
        self.delay = min(self.policy.longest, self.delay * 2)
        await asyncio.sleep(wait)

    async def _probe(self) -> int:
        self.counts.probes.append(time.monotonic())
        try:
            async with asyncio.timeout(self.policy.probe_timeout):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    writer.write(
                        f"GET /moi-ws/ready HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                        f"Cookie: {self.cookie}\r\nConnection: close\r\n\r\n".encode()
                    )
                    line = await reader.readline()
                finally:
                    writer.close()
            return int(line.split()[1])
        except (OSError, TimeoutError, IndexError, ValueError):
            return 0

    async def _socket(self) -> bool:
        """Open a websocket and read it until it closes; whether it opened."""
        self.counts.tries.append(time.monotonic())
        self.close_code = None
        key = base64.b64encode(os.urandom(16)).decode()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        self._writer = writer
        opened = False
        try:
            writer.write(
                f"GET /moi-ws/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nCookie: {self.cookie}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                return False
            opened = True
            self.counts.upgrades.append(time.monotonic())
            await self._read(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.listed.clear()
            self._writer = None
            writer.close()
        return opened

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            first, second = await reader.readexactly(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(length)
            if opcode == 0x1:
                self._message(payload)
            elif opcode == 0x9:
                writer.write(_frame(0xA, payload))  # pong
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big")
                self.signed_out = self.close_code == 4401
                return

    def _message(self, payload: bytes) -> None:
        if payload.startswith(b'{"add"'):
            self.delay = self.policy.start  # the list came: the backoff starts over
            self.listed.set()
        elif self.ended_at is None and self.job in payload and b'"status":"Success"' in payload:
            self.ended_at = time.monotonic()
            self.ended.set()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (payloads under 126 bytes: pongs)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class _Form(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a form's 303 is its answer


def sign_up(base_url: str, name: str) -> str:
    """Make the account ``name`` on the site's form and submit a hello job as it; the
    session's Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _Form)
    opener.open(base_url + "/login", timeout=30).close()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    for path, fields in (
        ("/signup", {"username": name, "password": PASSWORD, "confirm": PASSWORD}),
        ("/jobs/hello", {"name": name}),
    ):
        body = urllib.parse.urlencode({**fields, "_xsrf": xsrf}).encode()
        try:
            opener.open(base_url + path, body, timeout=30).close()
        except urllib.error.HTTPError as error:
            if error.code != 303:
                raise RuntimeError(f"{path} answered {error.code} for {name}") from None
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def running_jobs(client: redis.Redis, groups: list[str]) -> dict[str, dict]:
    """A running job in each group, stored as an engine stores one (its lease held)."""
    writer = record.Writer(client)
    jobs = {}
    for group in groups:
        info = record.new_info(group, "Outlasts the outage", "/result/hello")
        store_jobs(client, [info], 0)
        info.update(status=Status.RUNNING.value, date_start=record.now())
        writer.update(info, 0, lease=600)
        jobs[group] = info
    return jobs


def groups_of_hellos(client: redis.Redis) -> list[str]:
    """The groups the sign-ups' hello jobs went to (however the app names its groups)."""
    suffix = keys.group_jobs_key("")
    return sorted(key.removesuffix(suffix) for key in client.scan_iter(match="*" + suffix))


@dataclasses.dataclass
class Outcome:
    sockets: int
    away: float
    recovery: list[float]
    """Per tab: seconds from Redis's return to its job's end on it."""
    peak_reconnects: int
    """Most successful upgrades in any one second after Redis went."""
    asked_while_away: dict[str, float]
    """Upgrades tried and probes asked per second while Redis was away."""
    missing: int
    """Tabs that never showed the end within :data:`SETTLE`."""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.recovery)
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]

    def summary(self) -> dict[str, float]:
        return {
            "sockets": self.sockets,
            "away_s": self.away,
            "recovery_p50_s": round(statistics.median(self.recovery), 2),
            "recovery_p99_s": round(self.percentile(99), 2),
            "recovery_max_s": round(max(self.recovery), 2),
            "peak_reconnects_per_s": self.peak_reconnects,
            **{f"{k}_per_s_while_away": round(v) for k, v in self.asked_while_away.items()},
            "missing": self.missing,
        }


def peak_per_second(times: list[float]) -> int:
    ordered, peak, low = sorted(times), 0, 0
    for high, moment in enumerate(ordered):
        while moment - ordered[low] >= 1.0:
            low += 1
        peak = max(peak, high - low + 1)
    return peak


async def outage(
    app_url: str, redis_server: RedisServer, sockets: int, users: int, away: float
) -> Outcome:
    """Open ``sockets`` tabs of ``users`` new accounts on the app, take Redis away for
    ``away`` seconds, and measure each tab's recovery (see the module's docstring)."""
    port = urllib.parse.urlsplit(app_url).port or 80
    stamp = secrets.token_hex(3)
    accounts: list[tuple[str, str]] = []  # (cookie, group)
    with redis.Redis.from_url(redis_server.url, decode_responses=True) as client:
        for n in range(users):
            known = set(groups_of_hellos(client))
            cookie = await asyncio.to_thread(sign_up, app_url, f"r{stamp}x{n}")
            [group] = set(groups_of_hellos(client)) - known
            accounts.append((cookie, group))
        jobs = running_jobs(client, [group for _, group in accounts])
    policy, counts = Policy.of_moi_js(), Counts()
    tabs = []
    for n in range(sockets):
        cookie, group = accounts[n % users]
        tabs.append(Tab(port, cookie, jobs[group]["id"], policy, counts))
    tasks: list[asyncio.Task] = []
    try:
        async with asyncio.timeout(SETTLE):
            for start in range(0, sockets, BATCH):
                batch = tabs[start : start + BATCH]
                tasks += [asyncio.create_task(tab.run()) for tab in batch]
                await asyncio.gather(*(tab.listed.wait() for tab in batch))

        went = time.monotonic()
        await asyncio.to_thread(redis_server.stop)
        await asyncio.sleep(max(0.0, went + away - time.monotonic()))  # the outage itself
        await asyncio.to_thread(redis_server.start)
        back = time.monotonic()
        with redis.Redis.from_url(redis_server.url, decode_responses=True) as client:
            writer = record.Writer(client)
            for info in jobs.values():
                info.update(status=Status.SUCCESS.value, result="done", date_end=record.now())
                writer.update(info, 0, lease="end")

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE):
                await asyncio.gather(*(tab.ended.wait() for tab in tabs))
    finally:
        for tab in tabs:
            tab.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    signed_out = sum(tab.signed_out for tab in tabs)
    if signed_out:
        raise RuntimeError(f"{signed_out} tabs were signed out by the outage")
    seconds_away = back - went
    return Outcome(
        sockets=sockets,
        away=round(seconds_away, 1),
        recovery=[tab.ended_at - back for tab in tabs if tab.ended_at is not None],
        peak_reconnects=peak_per_second([t for t in counts.upgrades if t > went]),
        asked_while_away={
            kind: sum(went < t < back for t in times) / seconds_away
            for kind, times in (("upgrades", counts.tries), ("probes", counts.probes))
        },
        missing=sum(tab.ended_at is None for tab in tabs),
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.recovery", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sockets", type=int, default=2000, help="open tabs (default 2000)")
    parser.add_argument("--users", type=int, default=10, help="accounts they belong to (10)")
    parser.add_argument("--away", type=float, default=20.0, help="seconds without Redis (20)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    from tests.browser.appserver import AppServer  # the app as a process, started by PID

    with tempfile.TemporaryDirectory(prefix="moi-recovery-") as tmp:
        folder = Path(tmp)
        redis_server = RedisServer(free_port(), folder / "redis", persist=True).start()
        cluster = LocalCluster(1, folder / "ipython")
        app = None
        try:
            cluster.start()
            settings = config.Settings(
                redis_url=redis_server.url,
                ipp_connection_file=cluster.connection_file,
                ipp_engines=1,
            )
            app = AppServer(settings, folder / "app")
            app.start()
            print(f"recovery: app at {app.url}, {args.sockets} tabs", file=sys.stderr)
            outcome = asyncio.run(
                outage(app.url, redis_server, args.sockets, args.users, args.away)
            )
        finally:
            if app is not None:
                app.stop()
            cluster.stop()
            redis_server.stop()
    print(json.dumps(outcome.summary(), indent=2))
    return 0 if not outcome.missing else 1


if __name__ == "__main__":
    sys.exit(main())
