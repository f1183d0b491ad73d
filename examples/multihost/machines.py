"""A run's hosts and the services on them, with the faults tests cause, and a teardown that
leaves nothing: what any deployment on the emulated hosts needs, moi or not.

:class:`Machines` keeps its state in ``<run_dir>/state.json`` after every change, so
another process can find the run again (:meth:`Machines.load`) and take it down.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import time
from pathlib import Path

from examples.multihost import ready
from examples.multihost.netns import Host, Topology, namespace_pids, wait_gone
from examples.multihost.services import GRACE, Service

CLIENT = "client"
"""The host clients connect from: the tests, a browser, ``curl``."""
STATE_FILE = "state.json"


class Machines:
    """Hosts (a :class:`Topology`) and named :class:`Service` processes on them; a context
    manager that stops every process and deletes every namespace and link on the way out.
    Until :meth:`close` or :meth:`detach`, an ``atexit`` hook closes it too."""

    def __init__(self, run_dir: Path, topology: Topology) -> None:
        self.run_dir = run_dir
        self.topology = topology
        self.services: dict[str, Service] = {}
        self.closed = False
        atexit.register(self.close)

    @property
    def hosts(self) -> dict[str, Host]:
        return self.topology.hosts

    def hosts_named(self, start: str) -> list[str]:
        """The names of the hosts whose name starts with ``start`` (``"web-"``, ``"engines-"``)."""
        return [name for name in self.hosts if name.startswith(start)]

    def inside(self, host: str = CLIENT) -> contextlib.AbstractContextManager[None]:
        """This thread on ``host`` for the block: its sockets and children are that host's.
        Clients of the deployment (HTTP, websockets, Redis, a browser) connect from here."""
        return self.hosts[host].inside()

    def services_on(self, host: str) -> list[Service]:
        return [service for service in self.services.values() if service.host.name == host]

    def log(self, service: str) -> str:
        return self.services[service].log.read_text(errors="replace")

    def folder(self, host: str) -> Path:
        """The host's own directory in the run: what its disk would hold."""
        path = self.run_dir / host
        path.mkdir(exist_ok=True)
        return path

    def add_service(
        self,
        name: str,
        host: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        port: int | None = None,
        timeout: float = 30,
    ) -> Service:
        """Start ``argv`` on ``host`` as service ``name`` (stopped with the rest), in ``cwd``
        (default: the host's folder) with ``env`` on top of this process's; with ``port``,
        return once the port accepts connections on the host's address."""
        if name in self.services and self.services[name].running:
            raise ValueError(f"service {name!r} runs already")
        service = Service(
            name,
            self.hosts[host],
            list(argv),
            self.folder(host) / f"{name}.log",
            cwd=str(cwd or self.folder(host)),
            env={"PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.services[name] = service
        service.start()
        self.save()
        if port is not None:
            self.wait_port(name, port, timeout)
        return service

    def wait_port(self, service: str, port: int, timeout: float = 30) -> None:
        """Until ``port`` on the service's host accepts connections (from the client host)."""
        found = self.services[service]
        with self.inside():
            ready.wait_for(
                lambda: ready.accepts(found.host.addr, port), found, f"listening on {port}",
                timeout,
            )  # fmt: skip

    def wait_ready(self, service: Service, timeout: float) -> None:
        """Until a restarted service answers: here, its ``--port`` if its command names one."""
        if "--port" in service.argv:
            port = int(service.argv[service.argv.index("--port") + 1])
            self.wait_port(service.name, port, timeout)

    # -- faults -------------------------------------------------------------------------

    def cut(self, host: str) -> None:
        """Pull ``host``'s cable: its processes run on, but reach nobody, nor anybody them."""
        self.hosts[host].cut()

    def mend(self, host: str) -> None:
        self.hosts[host].mend()

    def kill_host(self, host: str) -> list[int]:
        """SIGKILL every process on ``host`` (services, their helpers, job processes), as
        when the machine loses power; the PIDs killed, all gone on return."""
        pids = namespace_pids(self.hosts[host].namespace)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = wait_gone(pids, 10)
        for service in self.services_on(host):
            service.running  # noqa: B018 (reaps the killed child)
        assert not left, f"processes {left} on {host} outlived SIGKILL"
        return pids

    def stop(self, service: str, grace: float = GRACE) -> bool:
        """Stop one service (SIGTERM, SIGKILL after ``grace``); whether it stopped in time."""
        return self.services[service].stop(grace)

    def kill(self, service: str) -> None:
        """SIGKILL one service's process group."""
        self.services[service].kill()

    def restart(self, service: str, timeout: float = 60) -> Service:
        """Start a service again (stopping it first if it runs), and wait until it answers
        (:meth:`wait_ready`)."""
        found = self.services[service]
        found.stop()
        found.start()
        self.save()
        self.wait_ready(found, timeout)
        return found

    def restart_host(self, host: str, timeout: float = 60) -> None:
        """Start again every service of ``host`` that is not running (after
        :meth:`kill_host`)."""
        for service in self.services_on(host):
            if not service.running:
                self.restart(service.name, timeout)

    # -- stopping -----------------------------------------------------------------------

    def close(self, grace: float = GRACE) -> list[str]:
        """Stop every service (SIGTERM to each group, SIGKILL to those left after
        ``grace``), kill what else runs on the hosts, delete every namespace and link.
        Safe to call again. Returns what could not be removed (nothing, normally)."""
        if self.closed:
            return self.leftovers()
        running = [s for s in self.services.values() if s.running]
        for service in running:
            service.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in running:
            service.stop(max(0.0, deadline - time.monotonic()))
        left = self.topology.destroy()
        self.closed = True
        atexit.unregister(self.close)
        self.save()
        return left + self.leftovers()

    def leftovers(self) -> list[str]:
        """Anything of the run still there: a namespace, a service's process."""
        return [f"namespace {ns}" for ns in self.topology.existing()] + [
            f"process {s.pid} ({s.name})" for s in self.services.values() if s.running
        ]

    def detach(self) -> None:
        """Leave everything running when this process exits (``python -m examples.multihost
        up``); :meth:`load` and :meth:`close` from another process stop it."""
        atexit.unregister(self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- state --------------------------------------------------------------------------

    def state(self) -> dict:
        return {
            "status": "down" if self.closed else "up",
            "topology": self.topology.to_state(),
            "services": {name: s.to_state() for name, s in self.services.items()},
        }

    def save(self) -> None:
        draft = self.run_dir / f".{STATE_FILE}.{os.getpid()}"
        draft.write_text(json.dumps(self.state(), indent=2))
        draft.replace(self.run_dir / STATE_FILE)

    def restore(self, state: dict) -> None:
        """Take on the services and status ``state`` (:meth:`state`'s) describes."""
        self.detach()
        self.closed = state["status"] == "down"
        for name, found in state["services"].items():
            self.services[name] = Service.from_state(name, found, self.hosts)

    @staticmethod
    def read_state(run_dir: str | os.PathLike) -> tuple[Path, dict]:
        folder = Path(run_dir).resolve()
        return folder, json.loads((folder / STATE_FILE).read_text())
