"""What every page shares: security headers, the redirect check, the error pages."""

from __future__ import annotations

import dataclasses
import urllib.request

import pytest

from app.handlers.base import safe_next
from tests.app.conftest import serving


@pytest.mark.parametrize(
    ("target", "result"),
    [
        ("/", "/"),
        ("/result/pi/1?x=%2F%2F", "/result/pi/1?x=%2F%2F"),
        (None, "/"),
        ("", "/"),
        ("result", "/"),
        ("http://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/\\/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/ /evil.example", "/"),
        ("/\x7f", "/"),
    ],
)
def test_safe_next(target, result):
    assert safe_next(target) == result


def test_pages_forbid_foreign_scripts(client, server):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert (
        f"connect-src 'self' ws://127.0.0.1:{server.port} wss://127.0.0.1:{server.port};" in policy
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_strange_host_header_cannot_extend_the_policy(settings, r, app_settings, caplog):
    anyone = dataclasses.replace(app_settings, allowed_hosts=("*",))  # answered, not refused
    with serving(settings, anyone, caplog) as served:
        request = urllib.request.Request(f"{served.url}/login", headers={"Host": "under_score:1"})
        with urllib.request.urlopen(request, timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
    assert "connect-src 'self';" in policy


def test_a_wrong_method_gets_the_error_page(auth):
    response = auth.request("/result/hello/x", {"a": "b", "_xsrf": auth.xsrf()})
    assert response.status == 405
    assert 'data-status-code="405"' in response.text


def test_a_form_address_takes_no_get(auth):
    assert auth.get("/jobs/hello").status == 405
