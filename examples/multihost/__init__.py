"""A multi-host moi on one Linux box: hosts as network namespaces on one bridge, and moi
deployed across them as README's "Scaling out" deploys it on real machines.

Needs root and iproute2's ``ip``. From the checkout::

    .venv/bin/python -m examples.multihost up       # prints the run directory and URLs
    .venv/bin/python -m examples.multihost status   # what runs where
    .venv/bin/python -m examples.multihost down     # stops it all, deletes every namespace

From Python (the tests do this; see :mod:`examples.multihost.deployment`)::

    from examples.multihost import Deployment

    with Deployment.start(run_dir, settings={"jobs": {"lease": "3"}}) as d:
        d.hosts["web-1"].addr; d.url("web-1")      # 10.251.x.y, http://10.251.x.y:8888
        with d.inside():                           # this thread on host "client"
            ...                                    # HTTP, websockets, Redis, Chromium
        d.cut("engines-1"); d.mend("engines-1")
        d.kill_host("engines-1"); d.restart_host("engines-1")
        d.stop("web-1"); d.kill("web-1"); d.restart("web-1")
        d.hosts["redis"].run(["redis-cli", "-h", d.hosts["redis"].addr, "ping"])

A bare topology with hosts of your own: :class:`Topology` (``Topology.create([...])``,
then ``destroy()``), or ``Deployment.build(extra_hosts=(...))``, start what must come first
(:meth:`Deployment.add_redis`, :meth:`Deployment.add_service`), then
``launch(redis_url=...)``.
"""

from examples.multihost.deployment import Deployment
from examples.multihost.netns import Host, Topology, TopologyError, support_problem
from examples.multihost.ready import NotReady
from examples.multihost.services import Service

__all__ = [
    "Deployment",
    "Host",
    "NotReady",
    "Service",
    "Topology",
    "TopologyError",
    "support_problem",
]
