"""moi deployed across emulated hosts: Redis, a controller with ``moi dispatch`` beside it,
engines on two hosts, two web processes, and a ``client`` host to reach them from.

::

    with Deployment.start() as d:                  # about 7 s; everything is ready
        with d.inside():                           # this thread on the client host
            urllib.request.urlopen(d.url("web-1"))
        d.cut("engines-1"); d.mend("engines-1")    # pull the cable, plug it in again
        d.kill_host("engines-1")                   # SIGKILL everything on the host
        d.restart_host("engines-1")                # its services started again
        d.stop("web-1"); d.restart("web-1")        # one service, by name
    # every process stopped, every namespace and link deleted

Service names: ``redis``, ``controller``, ``dispatcher`` (on the controller's host),
``engines-N.I`` (engine I on host engines-N), ``web-N``, and whatever ``add_service``
adds. Each logs to ``<run_dir>/<host>/<service>.log``; the files a machine would hold
(configs, the controller's connection files as copied to each host) are in
``<run_dir>/<host>/`` too, and ``state.json`` lets another process (``python -m
examples.multihost down``) find and remove it all.

Why ``moi dispatch`` beside the controller and ``[jobs] dispatch = no`` on the web
processes: it is the README's advice for several web processes. Only the dispatcher
talks to the controller, so the web hosts need no route to it, and a web process
stopped mid-job takes no dispatcher with it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from examples.multihost import configs, ready
from examples.multihost.machines import CLIENT, Machines
from examples.multihost.netns import Topology
from examples.multihost.services import Service
from moi import connections, keys
from moi.embedded import redis_server_binary

CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS, CONTROLLER, DISPATCHER = "redis", "controller", "dispatcher"
REDIS_PORT = 6379

_WAIT_ENGINES = """
import sys, ipyparallel
client = ipyparallel.Client(sys.argv[1])
try:
    client.wait_for_engines(int(sys.argv[2]), timeout=float(sys.argv[3]))
finally:
    client.close()
"""


class Deployment(Machines):
    """moi on a run's hosts (see the module's docstring); the faults, services and
    teardown are :class:`~examples.multihost.machines.Machines`'.

    Made by :meth:`start` (hosts and services, ready), or :meth:`build` (the hosts alone)
    then :meth:`launch`, when something must run first (say, a Redis behind Sentinel on
    extra hosts).
    """

    def __init__(
        self, run_dir: Path, topology: Topology, settings: configs.Sections | None = None
    ) -> None:
        super().__init__(run_dir, topology)
        self.settings = settings or {}
        """Ini sections laid over every moi config file (``{"jobs": {"lease": "3"}}``)."""
        self.redis_url: str | None = None

    @classmethod
    def build(
        cls,
        run_dir: str | os.PathLike | None = None,
        *,
        engine_hosts: int = 2,
        web_hosts: int = 2,
        extra_hosts: tuple[str, ...] = (),
        settings: configs.Sections | None = None,
        prefix: str | None = None,
    ) -> Deployment:
        """The hosts alone: ``client``, ``redis``, ``controller``, ``engines-1..N``,
        ``web-1..N``, then ``extra_hosts`` (e.g. ``("redis-2", "sentinel-1")``)."""
        names = [
            CLIENT,
            REDIS,
            CONTROLLER,
            *(f"engines-{n}" for n in range(1, engine_hosts + 1)),
            *(f"web-{n}" for n in range(1, web_hosts + 1)),
            *extra_hosts,
        ]
        folder = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="moi-multihost-"))
        folder.mkdir(parents=True, exist_ok=True)
        deployment = cls(folder.resolve(), Topology.create(names, prefix), settings)
        deployment.save()
        return deployment

    @classmethod
    def start(
        cls,
        run_dir: str | os.PathLike | None = None,
        *,
        redis_url: str | None = None,
        engines_per_host: int = 2,
        timeout: float = 60,
        **build_options,
    ) -> Deployment:
        """:meth:`build`, then :meth:`launch`; on any failure, everything made is removed."""
        deployment = cls.build(run_dir, **build_options)
        try:
            deployment.launch(redis_url, engines_per_host=engines_per_host, timeout=timeout)
        except BaseException:
            deployment.close()
            raise
        return deployment

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> Deployment:
        """The deployment ``state.json`` in ``run_dir`` describes, as its maker left it
        (to take it down from another process)."""
        folder, state = cls.read_state(run_dir)
        deployment = cls(folder, Topology.from_state(state["topology"]), state["settings"])
        deployment.restore(state)
        deployment.redis_url = state["redis_url"]
        return deployment

    def state(self) -> dict:
        return {**super().state(), "redis_url": self.redis_url, "settings": self.settings}

    def url(self, web: str, path: str = "") -> str:
        """``http://<addr>:8888`` of web host ``web``, then ``path``."""
        return f"http://{self.hosts[web].addr}:{configs.WEB_PORT}{path}"

    def redis(self):
        """A Redis client (moi's connections, ``decode_responses``) for :attr:`redis_url`.
        Use it inside a host (:meth:`inside`), and close it."""
        assert self.redis_url, "not launched"
        return connections.single(self.redis_url, decode_responses=True)

    def launch(
        self, redis_url: str | None = None, *, engines_per_host: int = 2, timeout: float = 60
    ) -> None:
        """Start moi on the hosts and return once every part answers: Redis on host
        ``redis`` (unless ``redis_url`` names one already running), the controller, the
        engines (registered), ``moi dispatch`` (holding the lock), the web processes (``/``
        answers)."""
        if redis_url is None:
            self.add_redis(REDIS, REDIS, timeout=timeout)
            redis_url = f"redis://{self.hosts[REDIS].addr}:{REDIS_PORT}/0"
        self.redis_url = redis_url
        client_file, engine_file = self._start_controller(timeout)
        for host in self.hosts_named("engines-"):
            copied = shutil.copy(engine_file, self.folder(host))  # as scp would
            for number in range(engines_per_host):
                self.add_service(
                    f"{host}.{number}",
                    host,
                    [str(BIN / "ipengine"), f"--file={copied}"],
                    env={"IPYTHONDIR": str(self.folder(host) / "ipython")},
                    cwd=CHECKOUT,  # ipengine imports from where it starts: app.jobs
                )
        dispatcher_ini = configs.dispatcher(
            self.folder(CONTROLLER) / "moi.ini", redis_url, client_file, self.settings
        )
        self.add_service(DISPATCHER, CONTROLLER, [str(BIN / "moi"), "dispatch"],
                         env={"MOI_CONFIG": str(dispatcher_ini)})  # fmt: skip
        secret = secrets.token_urlsafe(32)
        for host in self.hosts_named("web-"):
            copied = shutil.copy(client_file, self.folder(host))
            ini = configs.web(
                self.folder(host) / "moi.ini",
                redis_url=redis_url,
                client_file=Path(copied),
                addr=self.hosts[host].addr,
                subnet=str(self.topology.subnet),
                cookie_secret=secret,
                var_dir=self.folder(host) / "var",
                extra=self.settings,
            )
            self.add_service(host, host, [sys.executable, "-m", "app"],
                             env={"MOI_CONFIG": str(ini)}, cwd=CHECKOUT)  # fmt: skip
        for host in self.hosts_named("web-"):  # first: they need Redis alone
            self.wait_web(host, timeout)
        self.wait_dispatcher(timeout)
        self.wait_engines(len(self.hosts_named("engines-")) * engines_per_host, timeout)

    def add_redis(self, name: str, host: str, *args: str, timeout: float = 30) -> Service:
        """A redis-server on ``host``'s address, port 6379, append-only on the host's disk
        (so a restart keeps its data), no protected mode; ``args`` are more options."""
        data = self.folder(host) / f"{name}-data"
        data.mkdir(exist_ok=True)
        argv = [
            redis_server_binary(),  # as the tests choose it (MOI_REDIS_SERVER)
            "--bind", self.hosts[host].addr,
            "--port", str(REDIS_PORT),
            "--protected-mode", "no",
            "--dir", str(data),
            "--save", "",
            "--appendonly", "yes",
            "--daemonize", "no",
            *args,
        ]  # fmt: skip
        return self.add_service(name, host, argv, port=REDIS_PORT, timeout=timeout)

    def _start_controller(self, timeout: float) -> tuple[Path, Path]:
        profile = self.folder(CONTROLLER) / "profile"
        for stale in self._controller_files():
            stale.unlink(missing_ok=True)  # so a new controller's files are the ones waited for
        service = self.add_service(
            CONTROLLER,
            CONTROLLER,
            [str(BIN / "ipcontroller"), f"--ip={self.hosts[CONTROLLER].addr}",
             f"--profile-dir={profile}"],
            env={"IPYTHONDIR": str(self.folder(CONTROLLER) / "ipython")},
        )  # fmt: skip
        return self._wait_controller(service, timeout)

    def _controller_files(self) -> tuple[Path, Path]:
        """The controller's ``ipcontroller-client.json`` and ``ipcontroller-engine.json``."""
        security = self.folder(CONTROLLER) / "profile" / "security"
        return security / "ipcontroller-client.json", security / "ipcontroller-engine.json"

    def _wait_controller(self, service: Service, timeout: float) -> tuple[Path, Path]:
        files = self._controller_files()
        ready.wait_for(
            lambda: all(f.exists() for f in files), service, "its connection files written",
            timeout,
        )  # fmt: skip
        return files

    # -- readiness ----------------------------------------------------------------------

    def wait_engines(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` engines have registered with the controller (asked on its host)."""
        controller = self.services[CONTROLLER]
        client_file, _ = self._controller_files()
        done = controller.host.run(
            [sys.executable, "-c", _WAIT_ENGINES, str(client_file), str(count), str(timeout)],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout + 30,
        )
        if done.returncode != 0:
            engines = [s for s in self.services.values() if s.name.startswith("engines-")]
            logs = ", ".join(str(s.log) for s in engines)
            stopped = [s.name for s in engines if not s.running]
            raise ready.NotReady(
                f"{count} engines did not register with the controller on host {CONTROLLER} "
                f"within {timeout:g} s (not running: {stopped or 'none'}); "
                f"their logs: {logs}; the controller's: {controller.log}\n"
                + (done.stderr.strip().splitlines() or [""])[-1]
            )

    def wait_dispatcher(self, timeout: float = 30) -> None:
        """Until ``moi dispatch`` holds the dispatcher's lock in Redis."""
        with self.inside(), contextlib.closing(self.redis()) as redis:

            def holds() -> bool:
                try:
                    return bool(redis.get(keys.DISPATCHER_LOCK))
                except Exception:  # Redis not answering yet is a wait, not a failure
                    return False

            ready.wait_for(holds, self.services[DISPATCHER], "holding the lock", timeout)

    def wait_web(self, web: str, timeout: float = 30) -> None:
        """Until the web process on host ``web`` answers ``GET /``."""
        addr = self.hosts[web].addr
        with self.inside():
            ready.wait_for(
                lambda: ready.http_status(addr, configs.WEB_PORT) is not None,
                self.services[web], "answering GET /", timeout,
            )  # fmt: skip

    def wait_ready(self, service: Service, timeout: float) -> None:
        """Until a restarted service answers: the web processes (``GET /``), the
        dispatcher (its lock), the controller (its files, copied again to the engines' and
        web hosts' folders, as a user would; engines started after that use them), else
        its ``--port``."""
        if service.name.startswith("web-"):
            self.wait_web(service.name, timeout)
        elif service.name == DISPATCHER:
            self.wait_dispatcher(timeout)
        elif service.name == CONTROLLER:
            client_file, engine_file = self._wait_controller(service, timeout)
            for host in self.hosts_named("engines-"):
                shutil.copy(engine_file, self.folder(host))
            for host in self.hosts_named("web-"):
                shutil.copy(client_file, self.folder(host))
        else:
            super().wait_ready(service, timeout)

    def restart(self, service: str, timeout: float = 60) -> Service:
        """As :meth:`Machines.restart`; a controller's old files go first, so the new
        one's are the ones waited for."""
        if service == CONTROLLER:
            self.services[service].stop()
            for stale in self._controller_files():
                stale.unlink(missing_ok=True)
        return super().restart(service, timeout)
