"""The client's address and scheme: forwarding headers only from ``[app] trusted_proxies``."""

from __future__ import annotations

import dataclasses
import urllib.request

import pytest
import tornado.httputil

from app import proxies, throttle
from app.keys import throttle_key
from app.settings import parsed_networks
from tests.app.conftest import Client, serving

TRUSTED = parsed_networks(("127.0.0.1/32", "10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("203.0.113.9", {"X-Forwarded-For": "198.51.100.1"}, "203.0.113.9"),  # not a proxy
        ("203.0.113.9", {"X-Real-Ip": "198.51.100.1"}, "203.0.113.9"),
        ("127.0.0.1", {}, "127.0.0.1"),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"),
        # The client wrote the left one; the proxy appended the address it saw.
        ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}, "198.51.100.1"),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1, 10.1.1.1"}, "198.51.100.1"),  # 2 proxies
        ("127.0.0.1", {"X-Forwarded-For": "10.2.2.2, 10.1.1.1"}, "10.2.2.2"),  # all trusted
        ("127.0.0.1", {"X-Forwarded-For": "not-an-address, 10.1.1.1"}, "10.1.1.1"),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1", "X-Real-Ip": "6.6.6.6"}, "198.51.100.1"),
        ("127.0.0.1", {"X-Real-Ip": "198.51.100.1"}, "198.51.100.1"),
        ("127.0.0.1", {"X-Real-Ip": "nonsense"}, "127.0.0.1"),
        ("127.0.0.1", {"X-Forwarded-For": " 2001:db8::1 "}, "2001:db8::1"),
        ("::ffff:127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(peer, headers, client):
    found = proxies.client_address(peer, tornado.httputil.HTTPHeaders(headers), TRUSTED)
    assert found == client
    assert proxies.client_address(peer, tornado.httputil.HTTPHeaders(headers), ()) == peer


@pytest.mark.parametrize(
    ("peer", "proto", "scheme"),
    [
        ("127.0.0.1", "https", "https"),
        ("127.0.0.1", "http, https", "https"),
        ("127.0.0.1", "HTTPS", "https"),
        ("127.0.0.1", "gopher", "http"),
        ("203.0.113.9", "https", "http"),  # not a proxy
    ],
)
def test_the_scheme_is_a_trusted_proxys_last_word(peer, proto, scheme):
    headers = tornado.httputil.HTTPHeaders({"X-Forwarded-Proto": proto})
    assert proxies.scheme(peer, "http", headers, TRUSTED) == scheme


def rotating(n: int) -> dict[str, str]:
    """Forwarding headers naming a different address each time (one of them a victim's)."""
    return {"X-Forwarded-For": f"198.51.100.{n + 1}", "X-Real-Ip": f"203.0.113.{n + 1}"}


def test_rotating_forwarding_headers_on_a_direct_connection_lift_no_limit(server, r, monkeypatch):
    """Issue 22: with X-Forwarded-For / X-Real-Ip believed from anyone, rotating them lifted
    the per-address limits (150 guesses over 30 names, 60 sign-ups in 8.8 s) and locked
    other people's addresses out. Without trusted proxies they are ignored: every
    attempt counts against the connection's address, and no other address is touched."""
    monkeypatch.setattr(throttle, "PER_ADDRESS", throttle.Rule(free=3, lock_at=3))
    monkeypatch.setattr(throttle, "NEW_ACCOUNTS_PER_ADDRESS", 2)
    guesses = [
        Client(server.url, headers=rotating(n)).post(
            "/login", username=f"name{n}", password="a guess"
        )
        for n in range(5)
    ]
    assert [guess.status for guess in guesses] == [400, 400, 400, 429, 429]
    sign_ups = [Client(server.url, headers=rotating(n)).register(f"new{n}") for n in range(3)]
    assert [sign_up.status for sign_up in sign_ups] == [303, 303, 429]
    counted = sorted(r.scan_iter(throttle_key("*", "*")))
    assert not [key for key in counted if "198.51.100." in key or "203.0.113." in key]
    assert throttle_key("addr", "127.0.0.1") in counted


def test_behind_a_trusted_proxy_each_client_counts_as_itself(settings, r, app_settings, caplog):
    """With ``trusted_proxies = 127.0.0.1`` the proxy's X-Forwarded-For names the client."""
    proxied = dataclasses.replace(app_settings, trusted_proxies=("127.0.0.1",))
    with serving(settings, proxied, caplog) as served:
        guess = Client(served.url, headers=rotating(0)).post(
            "/login", username="alice", password="a guess"
        )
        assert guess.status == 400
    assert r.hget(throttle_key("addr", "198.51.100.1"), "attempts") == "1"
    assert not r.exists(throttle_key("addr", "127.0.0.1"))


@pytest.mark.parametrize(
    ("trusted", "headers", "status"),
    [
        ((), {"X-Forwarded-For": "10.1.2.3"}, 403),
        ((), {"X-Real-Ip": "10.1.2.3"}, 403),
        (("127.0.0.1",), {"X-Forwarded-For": "10.1.2.3"}, 200),
        (("127.0.0.1",), {"X-Real-Ip": "10.1.2.3"}, 200),
        (("127.0.0.1",), {"X-Forwarded-For": "10.1.2.3, 198.51.100.7"}, 403),
        (("127.0.0.1",), {}, 403),
    ],
)
def test_metrics_go_by_the_real_peer_unless_it_is_a_trusted_proxy(
    settings, r, app_settings, caplog, trusted, headers, status
):
    """Issue 22: X-Forwarded-For / X-Real-Ip on a direct connection opened /metrics past
    ``metrics_from``."""
    ours = dataclasses.replace(app_settings, metrics_from=("10.0.0.0/8",), trusted_proxies=trusted)
    with serving(settings, ours, caplog) as served:
        request = urllib.request.Request(served.url + "/metrics", headers=headers)
        assert Client(served.url).request_object(request).status == status
