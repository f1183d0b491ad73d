"""A load generator: many websocket clients in one process, driven over stdin/stdout.

``python -m bench.loadgen`` reads one JSON command per line and answers each with one
JSON line (``{"error": ...}`` if it failed). The parent side is
:class:`bench.children.LoadGenerator`.

The clients are a minimal RFC 6455 client on :class:`asyncio.Protocol`, not Tornado's
``websocket_connect``: a Tornado client costs tens of microseconds of Python per
message, and with hundreds of clients in one process the last one would read its copy
of an update tens of milliseconds late because of the generator alone, not the server.
Here a message is stamped with ``time.time()`` as soon as its bytes arrive, and only
framed; JSON is decoded after the measurement. Updates are told apart by the status
text ``stamp <time.time()>`` that the bench writes; their latency is arrival minus stamp
(one machine, one clock). An ``update`` may carry one info object or a list of them
(PROTOCOL.md 1.1: a snapshot, a cancel of many), so infos are counted, not messages.

The floor of item 3 lives here too: a plain redis-py subscriber, in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable

import redis
import tornado.web

from bench.wsserver import COOKIE_SECRET, raise_fd_limit

STAMP = "stamp "
STAMP_BYTES = b'"status":"stamp '
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONNECTS_IN_FLIGHT = 64


def cookie(group: str) -> str:
    return "user=" + tornado.web.create_signed_value(COOKIE_SECRET, "user", group).decode()


class Client(asyncio.Protocol):
    """One websocket: handshake, then frames; each text frame kept with its arrival time."""

    def __init__(self, port: int, path: str, group: str | None, keep: Callable[[bytes], bool]):
        self.key = base64.b64encode(os.urandom(16)).decode()
        headers = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key}",
            "Sec-WebSocket-Version: 13",
        ]
        if group is not None:
            headers.append(f"Cookie: {cookie(group)}")
        self.request = ("\r\n".join(headers) + "\r\n\r\n").encode()
        self.keep = keep
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.first: asyncio.Future = asyncio.get_running_loop().create_future()
        self.messages: list[tuple[float, bytes]] = []
        self.count = 0
        self.closed = False

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for future in (self.opened, self.first):
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc}"))
                future.exception()  # retrieved: nobody may be waiting for it

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded and not self._upgrade():
            return
        buffer, pos, size = self.buffer, 0, len(self.buffer)
        while size - pos >= 2:
            opcode, length = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                head = 4
                if size - pos < head:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
            elif length == 127:
                head = 10
                if size - pos < head:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
            end = pos + head + length
            if end > size:
                break
            if opcode == 0x1:
                payload = bytes(buffer[pos + head : end])
                self.count += 1
                if not self.first.done():
                    self.first.set_result(now)
                if self.keep(payload):
                    self.messages.append((now, payload))
            elif opcode == 0x8:
                self.close()
            pos = end
        del buffer[:pos]

    def _upgrade(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or accept not in head:
            self.opened.set_exception(ConnectionError(f"refused: {head.splitlines()[0]}"))
            self.close()
            return False
        self.upgraded = True
        self.opened.set_result(None)
        return True

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


def stamped(payload: bytes) -> bool:
    return STAMP_BYTES in payload


def keep_all(payload: bytes) -> bool:
    return True


def stamp_count(payload: bytes) -> int:
    """How many stamped infos a message carries (a list ``update`` may carry several)."""
    return payload.count(STAMP_BYTES)


def infos_of(payload: bytes) -> list[dict]:
    """The info objects of an ``update`` message: its one object, or its list; else none."""
    try:
        value = json.loads(payload)["update"]
    except (ValueError, KeyError, TypeError):
        return []
    infos = value if isinstance(value, list) else [value]
    return [info for info in infos if isinstance(info, dict)]


def stamps_of(payload: bytes) -> list[float]:
    """The times of the infos in an update whose status is ``stamp <time>``."""
    stamps = []
    for info in infos_of(payload):
        status = info.get("status")
        if isinstance(status, str) and status.startswith(STAMP):
            stamps.append(float(status.removeprefix(STAMP)))
    return stamps


class Floor:
    """A plain redis-py subscriber in a thread: arrival times of ``stamp <time>`` messages."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(channel)
        confirmed = self.pubsub.get_message(timeout=10)
        if confirmed is None or confirmed["type"] != "subscribe":
            raise RuntimeError(f"no confirmation of the subscription to {channel}")
        self.samples: list[tuple[float, bytes]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._listen, daemon=True, name="floor")
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop:
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None:
                self.samples.append((time.time(), message["data"]))

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.pubsub.close()
        self.client.close()


class LoadGenerator:
    """The commands, one method each (``connect`` runs :meth:`cmd_connect`)."""

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.floor: Floor | None = None

    async def cmd_connect(self, port: int, groups: list[str], path: str = "/moi-ws/") -> dict:
        """Open a client per entry of ``groups``; return once each has its first message.

        ``path`` ``/bare-ws/`` sends no first message: there, once upgraded.
        """
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
        bare = path != "/moi-ws/"

        async def one(group: str) -> Client:
            async with gate:
                client = Client(port, path, None if bare else group, stamped)
                await loop.create_connection(lambda: client, "127.0.0.1", port)
                await (client.opened if bare else client.first)
                return client

        start = time.perf_counter()
        made = await asyncio.gather(*(one(group) for group in groups), return_exceptions=True)
        failed = [error for error in made if isinstance(error, BaseException)]
        self.clients += [client for client in made if isinstance(client, Client)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(groups)} connects failed: {failed[0]!r}")
        return {"clients": len(self.clients), "seconds": time.perf_counter() - start}

    async def cmd_reset(self) -> dict:
        """Forget the messages received so far; collect garbage now, between measurements."""
        for client in self.clients:
            client.messages.clear()
        if self.floor is not None:
            self.floor.samples.clear()
        gc.collect()
        return {}

    async def cmd_latencies(self, expect: int, within: float, quiet: float = 0.5) -> dict:
        """Wait for ``expect`` stamped infos in all; return ``[stamp, latency ms]`` pairs.

        Returns early once nothing arrived for ``quiet`` seconds: call it when the
        updates have been sent, and some may never come (the hub sends a job's current
        state, so two notices it reads together make one update).
        """
        deadline = time.monotonic() + within
        count, changed = -1, time.monotonic()
        seen = [0] * len(self.clients)  # per client: its messages counted so far
        stamps = 0
        while count < expect:
            now = time.monotonic()
            if now > deadline or now - changed > quiet or all(c.closed for c in self.clients):
                break
            await asyncio.sleep(0.01)
            for index, client in enumerate(self.clients):
                fresh = client.messages[seen[index] :]
                stamps += sum(stamp_count(payload) for _, payload in fresh)
                seen[index] += len(fresh)
            if stamps != count:
                count, changed = stamps, time.monotonic()
        pairs = []
        for client in self.clients:
            for arrived, payload in client.messages:
                for stamp in stamps_of(payload):
                    pairs.append((stamp, (arrived - stamp) * 1e3))
        closed = sum(client.closed for client in self.clients)
        return {"samples": pairs, "closed": closed}

    async def cmd_close(self) -> dict:
        for client in self.clients:
            client.close()
        self.clients = []
        await asyncio.sleep(0)
        return {}

    async def cmd_subscribe(self, redis_url: str, channel: str) -> dict:
        """Start the floor's subscriber (subscribed when this returns)."""
        self.floor = await asyncio.to_thread(Floor, redis_url, channel)
        return {}

    async def cmd_floor(self, expect: int, within: float) -> dict:
        """Wait for ``expect`` floor messages; return ``[stamp, latency ms]`` pairs."""
        assert self.floor is not None, "subscribe first"
        deadline = time.monotonic() + within
        # Polled: the floor's thread fills samples, and an asyncio.Event is the loop's alone.
        while len(self.floor.samples) < expect and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        pairs = []
        for arrived, data in list(self.floor.samples):
            text = data.decode()
            if text.startswith(STAMP):
                stamp = float(text.removeprefix(STAMP))
                pairs.append((stamp, (arrived - stamp) * 1e3))
        return {"samples": pairs}

    async def cmd_unsubscribe(self) -> dict:
        if self.floor is not None:
            floor, self.floor = self.floor, None
            await asyncio.to_thread(floor.close)
        return {}

    async def cmd_whole_list(self, port: int, group: str, within: float) -> dict:
        """A new client of ``group``: seconds until it has the ``add`` and every job's info.

        The infos come in ``update`` messages of one or of many; the clock stops at the
        arrival of the message that brings the last job of the ``add`` not yet seen.
        """
        loop = asyncio.get_running_loop()
        start = time.time()
        client = Client(port, "/moi-ws/", group, keep_all)
        try:
            await loop.create_connection(lambda: client, "127.0.0.1", port)
            await asyncio.wait_for(client.opened, within)
            upgraded = time.time()
            deadline = time.monotonic() + within
            listed: set[str] | None = None
            missing: set[str] = set()
            infos, read, last = 0, 0, 0.0
            while listed is None or missing:
                if time.monotonic() > deadline or client.closed:
                    total = "?" if listed is None else len(listed)
                    raise TimeoutError(f"{infos} infos of {total} in {read} messages")
                for arrived, payload in client.messages[read:]:
                    read += 1
                    if listed is None:
                        listed = set(json.loads(payload)["add"])
                        missing = set(listed)
                        last = arrived
                        continue
                    got = infos_of(payload)
                    infos += len(got)
                    missing.difference_update(info.get("id") for info in got)
                    if not missing:
                        last = arrived
                        break
                else:
                    await asyncio.sleep(0.002)
            assert listed is not None
            update_messages = sum(b'"update"' in payload[:12] for _, payload in client.messages)
            return {
                "seconds": last - start,
                "upgrade_s": upgraded - start,
                "first_s": client.messages[0][0] - start,
                "jobs": len(listed),
                "infos": infos,
                "update_messages": update_messages,
                "bytes": sum(len(payload) for _, payload in client.messages[:read]),
            }
        finally:
            client.close()

    async def cmd_read_redis(self, redis_url: str, group: str) -> dict:
        """The floor of a whole list: SMEMBERS + MGET with redis-py, from this process."""

        def read() -> dict:
            client = redis.Redis.from_url(redis_url)
            try:
                client.ping()
                start = time.perf_counter()
                ids = client.smembers(f"{group}:jobs")
                raws = client.mget(list(ids))
                seconds = time.perf_counter() - start
            finally:
                client.close()
            return {"seconds": seconds, "jobs": sum(raw is not None for raw in raws)}

        return await asyncio.to_thread(read)


async def serve(generator: LoadGenerator | None = None) -> None:
    """Answer the bench's commands on stdin, one JSON line each, until it closes it."""
    generator = generator or LoadGenerator()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        name = command.pop("cmd")
        try:
            answer = await getattr(generator, f"cmd_{name}")(**command)
        except Exception as error:
            answer = {"error": f"{name}: {error.__class__.__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    await generator.cmd_close()
    await generator.cmd_unsubscribe()


def main() -> None:
    raise_fd_limit()
    # A full collection among thousands of clients takes tens of milliseconds, and
    # would be counted as the server's latency: collect only in ``reset`` instead.
    gc.disable()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
