"""Hosts on one Linux box: a network namespace each, joined to a bridge by a veth pair.

Everything is made inside namespaces this module creates, so the root namespace's
links, addresses and routes never change: the bridge lives in a ``switch`` namespace of
its own, and each host's veth pair runs from a port on that bridge (named after the host)
to ``eth0`` in the host's namespace. Names start with a prefix unique to the run
(``moi1a2b-web-1``), so two runs never meet, and deleting a run's namespaces deletes its
links with them.

A host is cut off by setting its bridge port down (its ``eth0`` loses its carrier, as
when a cable is pulled: nothing is refused, packets just go nowhere) and mended by setting
it up again.

Code of this process reaches the hosts' addresses from within a host:
:meth:`Host.inside` moves the calling thread into the host's namespace (``setns(2)``),
so the sockets it opens meanwhile, and the processes it starts, are that host's.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import random
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psutil

NETNS_DIR = "/run/netns"
SWITCH = "switch"
"""The namespace (under the run's prefix) holding the bridge; no host may take the name."""
BRIDGE = "br0"
HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
"""A host name is a bridge port's name too: at most 15 characters (IFNAMSIZ)."""
CLONE_NEWNET = 0x40000000


class TopologyError(RuntimeError):
    """A namespace, link or address could not be made or changed; says which command failed."""


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output, or :class:`TopologyError` with its message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TopologyError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def support_problem() -> str | None:
    """Why namespaces cannot be made here (not root, no ``ip netns``), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, as CI does)"
    try:
        ip("netns", "list")
    except FileNotFoundError:
        return "the ip command (Debian's iproute2) is not installed"
    except TopologyError as error:
        return f"ip netns does not work here: {error}"
    return None


def free_subnet(base: str = "10.251.0.0/16") -> ipaddress.IPv4Network:
    """A /24 of ``base`` that no address of this machine's root namespace is in."""
    used = [
        ipaddress.ip_interface(found).network
        for found in re.findall(r"\binet (\S+)", ip("-o", "-4", "addr"))
    ]
    choices = list(ipaddress.IPv4Network(base).subnets(new_prefix=24))
    random.shuffle(choices)
    for subnet in choices:
        if not any(subnet.overlaps(network) for network in used):
            return subnet
    raise TopologyError(f"every /24 of {base} is in use here")


def unused_prefix() -> str:
    """``moi`` and 4 random hex digits that no namespace here starts with."""
    listed = ip("netns", "list")
    for _ in range(100):
        prefix = f"moi{secrets.token_hex(2)}"
        if f"{prefix}-" not in listed:
            return prefix
    raise TopologyError("no unused namespace prefix found")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def entered(namespace: str | int) -> Iterator[None]:
    """Run the block in ``namespace`` (a name, or an open descriptor of a namespace, see
    :func:`current`), this thread only, then go back to where it was.

    Sockets opened in the block stay the namespace's after it; threads and processes
    started in it live there. Blocks nest.
    """
    back = current()
    try:
        if isinstance(namespace, int):
            _setns(namespace)
        else:
            target = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
        try:
            yield
        finally:
            _setns(back)
    finally:
        os.close(back)


def current() -> int:
    """An open descriptor of this thread's namespace (to come back to it; close it after)."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY)


def namespace_pids(namespace: str) -> list[int]:
    """PIDs of the processes in ``namespace`` (``ip netns pids``), never this process's."""
    try:
        listed = ip("netns", "pids", namespace)
    except TopologyError:
        return []  # gone already
    return [int(pid) for pid in listed.split() if int(pid) != os.getpid()]


def kill_namespace_processes(namespace: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to every process in ``namespace``; the PIDs it went to."""
    pids = namespace_pids(namespace)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; those still running after ``timeout``. A zombie
    counts as gone: its parent, not this process, may be the one to reap it."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left:
        left = [pid for pid in left if _running(pid)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # no event to wait on for another's process
    return left


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass(frozen=True)
class Host:
    """One emulated machine: a namespace with ``lo`` and ``eth0`` at :attr:`addr`."""

    name: str
    namespace: str
    addr: str
    switch: str
    """The namespace of the bridge this host's link plugs into."""

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a command on this host and wait for it (``subprocess.run``'s keywords)."""
        kwargs.setdefault("check", True)
        return subprocess.run(["ip", "netns", "exec", self.namespace, *argv], **kwargs)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a command on this host (``subprocess.Popen``'s keywords); the PID is its own,
        since ``ip netns exec`` execs it. Whoever starts it stops it (the topology's
        :meth:`Topology.destroy` kills whatever still runs on the host)."""
        return subprocess.Popen(["ip", "netns", "exec", self.namespace, *argv], **kwargs)

    def inside(self) -> contextlib.AbstractContextManager[None]:
        """This thread on this host until the block ends (see :func:`entered`)."""
        return entered(self.namespace)

    def pids(self) -> list[int]:
        """Every process running on this host."""
        return namespace_pids(self.namespace)

    def cut(self) -> None:
        """Pull the cable: no packet reaches or leaves the host until :meth:`mend`."""
        ip("-n", self.switch, "link", "set", "dev", self.name, "down")

    def mend(self) -> None:
        """Plug it in again."""
        ip("-n", self.switch, "link", "set", "dev", self.name, "up")

    @property
    def is_cut(self) -> bool:
        return "state DOWN" in ip("-n", self.switch, "-o", "link", "show", "dev", self.name)


class Topology:
    """A run's hosts on one bridge; :meth:`destroy` removes every namespace and link it made.

    Build it with :meth:`create` (which destroys what it made if a step fails), or find a
    run's again with :meth:`from_state` (e.g. to tear it down from another shell).
    """

    def __init__(self, prefix: str, subnet: ipaddress.IPv4Network) -> None:
        self.prefix = prefix
        self.subnet = subnet
        self.switch = f"{prefix}-{SWITCH}"
        self.hosts: dict[str, Host] = {}
        self.made: set[str] = set()
        """The namespaces this run created: the only ones it ever deletes."""

    @classmethod
    def create(cls, names: Iterable[str], prefix: str | None = None) -> Topology:
        """The bridge and a host for each of ``names``, each with the next address."""
        topology = cls(prefix or unused_prefix(), free_subnet())
        try:
            ip("netns", "add", topology.switch)
            topology.made.add(topology.switch)
            ip("-n", topology.switch, "link", "add", "name", BRIDGE, "type", "bridge")
            ip("-n", topology.switch, "link", "set", "dev", BRIDGE, "up")
            for name in names:
                topology.add_host(name)
        except BaseException:
            topology.destroy()
            raise
        return topology

    def add_host(self, name: str) -> Host:
        """Another host on the bridge, with the next free address."""
        if not HOST_NAME.match(name) or name == SWITCH or name in self.hosts:
            raise ValueError(
                f"bad or taken host name {name!r}: a-z, 0-9 and -, at most 15, not {SWITCH!r}"
            )
        taken = {host.addr for host in self.hosts.values()}
        # .1 is left for a gateway, should one ever come
        addr = next((str(a) for a in list(self.subnet.hosts())[1:] if str(a) not in taken), None)
        if addr is None:
            raise TopologyError(f"no address left in {self.subnet}")
        host = Host(name, f"{self.prefix}-{name}", addr, self.switch)
        ip("netns", "add", host.namespace)  # fails for a name another run holds: left alone
        self.hosts[name] = host
        self.made.add(host.namespace)  # from here on, destroy() removes it, made whole or not
        ip("-n", host.namespace, "link", "set", "dev", "lo", "up")
        # "name" and "dev" spelled out: ip would read a host called "a" as "address"
        ip("-n", self.switch, "link", "add", "name", name, "type", "veth",
           "peer", "name", "eth0", "netns", host.namespace)  # fmt: skip
        ip("-n", self.switch, "link", "set", "dev", name, "master", BRIDGE, "up")
        ip("-n", host.namespace, "addr", "add", f"{addr}/{self.subnet.prefixlen}", "dev", "eth0")
        ip("-n", host.namespace, "link", "set", "dev", "eth0", "up")
        return host

    def namespaces(self) -> list[str]:
        return [*(host.namespace for host in self.hosts.values()), self.switch]

    def existing(self) -> list[str]:
        """The namespaces this run made that exist now."""
        return [
            ns
            for ns in self.namespaces()
            if ns in self.made and os.path.exists(os.path.join(NETNS_DIR, ns))
        ]

    def destroy(self, timeout: float = 10) -> list[str]:
        """Kill whatever still runs on the hosts, then delete every namespace (and so every
        link) of the run. Safe to call again. Returns what could not be removed."""
        left: list[str] = []
        killed = [pid for ns in self.existing() for pid in kill_namespace_processes(ns)]
        left += [f"process {pid}" for pid in wait_gone(killed, timeout)]
        for namespace in self.existing():
            try:
                ip("netns", "del", namespace)
            except TopologyError as error:
                left.append(f"namespace {namespace} ({error})")
        return left

    def to_state(self) -> dict:
        return {
            "prefix": self.prefix,
            "subnet": str(self.subnet),
            "hosts": {name: host.addr for name, host in self.hosts.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> Topology:
        topology = cls(state["prefix"], ipaddress.IPv4Network(state["subnet"]))
        for name, addr in state["hosts"].items():
            topology.hosts[name] = Host(name, f"{topology.prefix}-{name}", addr, topology.switch)
        topology.made = set(topology.namespaces())  # a saved run made every one it names
        return topology
