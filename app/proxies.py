"""The client's address and scheme: from the connection, or from a trusted proxy's headers.

Tornado's ``xheaders`` believes ``X-Forwarded-For``, ``X-Real-Ip`` and
``X-Forwarded-Proto`` from whoever connects, so on a direct connection anyone could
claim any address: lift the per-address limits by rotating it, get other people's
addresses locked out, or read ``/metrics`` past ``[app] metrics_from``. So the server
runs without it, and :func:`resolve` rewrites a request's ``remote_ip`` and ``protocol``
before any handler sees it (``Application.find_handler``), from those headers only when
the connection comes from ``[app] trusted_proxies``. Everything that asks the request
(the throttle, ``/metrics``, the Secure flag of cookies, the access log) then agrees.

The client is the right-most address of ``X-Forwarded-For`` that is not a trusted proxy:
each proxy appends the address it was connected from, so everything to the left of the
first untrusted one may have been written by the client itself. Without
``X-Forwarded-For``, ``X-Real-Ip`` names it. The scheme is the last entry of
``X-Forwarded-Proto`` (``http`` or ``https``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import tornado.httputil

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """``text`` as an address (an IPv4-mapped IPv6 one as its IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_address(
    peer: str, headers: tornado.httputil.HTTPHeaders, trusted: Sequence[Network]
) -> str:
    """The client's address: ``peer`` (the connection's), unless ``peer`` is a trusted
    proxy; then the right-most untrusted address its headers name."""
    if not is_trusted(parse_address(peer), trusted):
        return peer
    hops = [hop for line in headers.get_list("X-Forwarded-For") for hop in line.split(",")]
    if not hops:
        real = parse_address(headers.get("X-Real-Ip", ""))
        return str(real) if real is not None else peer
    client = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # not written by a proxy: the address right of it is as far as we can go
        client = str(address)
        if not is_trusted(address, trusted):
            break
    return client


def scheme(
    peer: str, protocol: str, headers: tornado.httputil.HTTPHeaders, trusted: Sequence[Network]
) -> str:
    """``http`` or ``https``: ``protocol`` (the connection's), unless ``peer`` is a trusted
    proxy that says which in ``X-Forwarded-Proto``."""
    if not is_trusted(parse_address(peer), trusted):
        return protocol
    said = headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return said if said in ("http", "https") else protocol


def resolve(request: tornado.httputil.HTTPServerRequest, trusted: Sequence[Network]) -> None:
    """Set ``request.remote_ip`` and ``request.protocol`` to the client's, as above.

    The server must run with ``xheaders=False``, so that ``remote_ip`` is still the
    connection's when this reads it.
    """
    peer = request.remote_ip or ""
    if not trusted:
        return
    request.protocol = scheme(peer, request.protocol, request.headers, trusted)
    request.remote_ip = client_address(peer, request.headers, trusted)
