"""``python -m examples.multihost up|status|down``: a multi-host moi on this box, as root.

``up`` starts it and returns, leaving it running (``--hold`` stays until Ctrl-C, then takes
it down); ``status`` and ``down`` find it by its run directory, or, when none is given,
the one run of this machine still up.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from examples.multihost.deployment import Deployment
from examples.multihost.machines import CLIENT, STATE_FILE
from examples.multihost.netns import support_problem


def runs_up() -> list[Path]:
    """Run directories in the temporary directory whose state says up."""
    found = []
    pattern = os.path.join(tempfile.gettempdir(), "moi-multihost-*", STATE_FILE)
    for path in sorted(glob.glob(pattern)):
        try:
            if json.loads(Path(path).read_text()).get("status") == "up":
                found.append(Path(path).parent)
        except (OSError, ValueError):
            continue
    return found


def chosen_run(given: str | None) -> Path:
    if given:
        return Path(given)
    found = runs_up()
    if len(found) != 1:
        listed = ", ".join(map(str, found)) or "none"
        raise SystemExit(f"name the run directory (runs up: {listed})")
    return found[0]


def describe(deployment: Deployment) -> str:
    client = deployment.hosts[CLIENT].namespace
    lines = [f"run directory  {deployment.run_dir}", f"redis          {deployment.redis_url}"]
    for name, host in deployment.hosts.items():
        services = ", ".join(
            f"{s.name} (pid {s.pid}{'' if s.running else ', stopped'})"
            for s in deployment.services_on(name)
        )
        cut = "  CUT" if host.is_cut else ""
        lines.append(f"  {name:<12} {host.addr:<14} {host.namespace:<20} {services}{cut}")
    for web in deployment.hosts_named("web-"):
        lines.append(f"{web:<14} {deployment.url(web)}/")
    lines.append(f"try            ip netns exec {client} curl -s {deployment.url('web-1')}/")
    return "\n".join(lines)


def up(args: argparse.Namespace) -> int:
    # SIGTERM unwinds as Ctrl-C does, so whatever was started is taken down again.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    deployment = Deployment.start(args.run_dir, engines_per_host=args.engines)
    print(describe(deployment))
    print(f"up in {time.monotonic() - began:.1f} s; logs in {deployment.run_dir}/<host>/")
    if not args.hold:
        deployment.detach()
        print(f"stop it with: {sys.executable} -m examples.multihost down {deployment.run_dir}")
        return 0
    try:
        print("Ctrl-C takes it down")
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        left = deployment.close()
        print("down" + (f"; left: {', '.join(left)}" if left else ""))
    return 0


def down(args: argparse.Namespace) -> int:
    deployment = Deployment.load(chosen_run(args.run_dir))
    left = deployment.close()
    if left:
        print(f"could not remove: {', '.join(left)}", file=sys.stderr)
        return 1
    print(f"down: {deployment.run_dir} (logs kept)")
    return 0


def status(args: argparse.Namespace) -> int:
    deployment = Deployment.load(chosen_run(args.run_dir))
    if deployment.closed:
        print(f"{deployment.run_dir}: down")
        return 1
    print(describe(deployment))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.multihost", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="build the hosts and start moi on them")
    start.add_argument("--run-dir", help="where logs, configs and state go (default: a new one)")
    start.add_argument("--engines", type=int, default=2, help="engines per engines host")
    start.add_argument("--hold", action="store_true", help="stay until Ctrl-C, then go down")
    for name, text in (("status", "what runs where"), ("down", "stop it all, remove the hosts")):
        command = commands.add_parser(name, help=text)
        command.add_argument("run_dir", nargs="?", help="the run directory up printed")
    args = parser.parse_args(argv)
    problem = support_problem()
    if problem:
        print(f"multihost: {problem}", file=sys.stderr)
        return 2
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
