"""SSRF through the proxy: literal addresses in every encoding, hostnames that resolve to
private addresses (also public first and private second), redirects to private addresses
(returned, never followed), and path-parameter injection. Every refusal: nothing reaches the
upstream, no credit is charged, and the call log says why."""

from __future__ import annotations

from typing import Any

import pytest

from integrations import egress
from integrations.models import CallLog
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream, redirect
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits

# the shared fixtures of the proxy tests
_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db


class FakeResolver:
    """host -> answer (a list) or successive answers (a list of lists), recording lookups."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answer = self.answers[host]
        if answer and isinstance(answer[0], list):
            n = self.calls.count(host) - 1
            return list(answer[min(n, len(answer) - 1)])
        return list(answer)


@pytest.fixture
def closed_network(settings: Any, upstream: Upstream) -> Any:
    """Nothing private is open (production's default); the upstream's port is allowed so
    that only the address rules decide."""
    settings.EGRESS_ALLOW_CIDRS = []
    settings.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port]
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 0
    return settings


def call(sdk: Any, app: Any, slug: str, op: str = "get:/pets", body: Any = None) -> Any:
    return sdk(app).post(call_url(app.public_id, slug, op), body or {}, format="json")


def assert_refused_before_sending(response: Any, personas: Any, upstream: Upstream) -> None:
    assert response.status_code == 502, response.json()
    body = response.json()
    assert body["code"] == "egress_blocked" and body["phase"] == "not_sent"
    assert body["detail"].startswith("Failed to connect to external API:")
    assert upstream.seen == []
    assert credits.balance(personas.workspace) == 2000
    assert not credits.CreditEntry.objects.filter(kind__in=["usage", "refund"]).exists()
    row = CallLog.objects.latest("id")
    assert (row.error_code, row.credits, row.phase) == ("egress_blocked", 0, "not_sent")


LITERALS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.1", "0x7f.0.0.1",
    "0177.0.0.1", "017700000001", "127.0.0.01", "127.000.000.001", "0.0.0.0", "0",
    "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "168.63.129.16", "100.100.100.200", "224.0.0.1", "255.255.255.255", "198.18.0.1",
    "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
    "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[fe80::1]", "[fc00::1]",
    "[fd00:ec2::254]", "[::ffff:169.254.169.254]", "[::ffff:a00:1]",
    "127。0。0。1", "１２７.０.０.１", "localhost", "localtest.me.",
]


@pytest.mark.parametrize("host", LITERALS)
def test_literal_and_local_addresses_are_refused(personas, sdk, upstream, closed_network,
                                                 host, monkeypatch):
    monkeypatch.setattr(egress, "_default_resolver",
                        FakeResolver({"localhost": ["127.0.0.1"],
                                      "localtest.me": ["127.0.0.1"]}))
    make_integration(personas.workspace, f"http://{host}:{upstream.port}", slug="ssrf")
    assert_refused_before_sending(call(sdk, personas.app, "ssrf"), personas, upstream)


@pytest.mark.parametrize("base", [
    "http://user@127.0.0.1:{port}", "http://127.0.0.1%2509:{port}", "http://127.0.0.1\\@x:{port}",
    "file:///etc/passwd", "gopher://127.0.0.1:{port}/", "http://127.0.0.1:{port} /",
])
def test_malformed_base_urls_are_refused(personas, sdk, upstream, closed_network, base):
    make_integration(personas.workspace, base.format(port=upstream.port), slug="ssrf")
    assert_refused_before_sending(call(sdk, personas.app, "ssrf"), personas, upstream)


@pytest.mark.parametrize("answer", [
    ["10.0.0.5"], ["169.254.169.254"], ["::1"], ["::ffff:10.0.0.1"], ["fd12::1"],
    ["93.184.216.34", "10.0.0.1"],  # one public address does not excuse a private one
    ["10.0.0.1", "93.184.216.34"],
])
def test_hostnames_resolving_to_private_addresses_are_refused(personas, sdk, upstream,
                                                              closed_network, monkeypatch,
                                                              answer):
    resolver = FakeResolver({"api.partner.example": answer})
    monkeypatch.setattr(egress, "_default_resolver", resolver)
    make_integration(personas.workspace, f"http://api.partner.example:{upstream.port}/v1",
                     slug="ssrf")
    assert_refused_before_sending(call(sdk, personas.app, "ssrf"), personas, upstream)
    assert resolver.calls == ["api.partner.example"]


def test_public_then_private_dns_answers_cannot_rebind(personas, sdk, upstream, egress_open,
                                                       monkeypatch):
    """Each call resolves once and connects to exactly the address it checked: an answer that
    changes to a private address between lookups is refused, never connected to."""
    # 127.0.0.0/8 stands in for "public" here (the tests' upstream runs on it).
    resolver = FakeResolver({"api.partner.example": [["127.0.0.1"], ["10.0.0.7"]]})
    monkeypatch.setattr(egress, "_default_resolver", resolver)
    make_integration(personas.workspace, f"http://api.partner.example:{upstream.port}/v1",
                     slug="rebind")
    first = call(sdk, personas.app, "rebind")
    assert first.status_code == 200 and first.json()["success"] is True
    assert resolver.calls == ["api.partner.example"]  # one lookup for the call
    assert upstream.seen[0].headers["host"] == f"api.partner.example:{upstream.port}"
    second = call(sdk, personas.app, "rebind")
    assert second.status_code == 502 and second.json()["code"] == "egress_blocked"
    assert resolver.calls == ["api.partner.example"] * 2
    assert len(upstream.seen) == 1
    assert credits.balance(personas.workspace) == 1999


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/iam/",
                                    "http://127.0.0.1:{internal}/admin",
                                    "http://[::1]:{internal}/", "/local-path"])
def test_redirects_are_returned_and_never_followed(personas, sdk, upstream, egress_open,
                                                   status, target):
    internal = Upstream()
    try:
        location = target.format(internal=internal.port)
        egress_open.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port, internal.port]
        upstream.routes["/v1/redirect"] = redirect(location, status)
        make_integration(personas.workspace, upstream.url("/v1"), slug="redir")
        r = call(sdk, personas.app, "redir", "get:/redirect", {"include_headers": True})
        assert r.status_code == 200
        body = r.json()
        assert (body["success"], body["status_code"]) == (False, status)
        assert body["headers"]["location"] == location
        assert internal.seen == [] and len(upstream.seen) == 1
    finally:
        internal.close()


# --------------------------------------------------------------------------- path parameters


INJECTIONS = [
    "..", ".", "../admin", "a/../../b", "%2e%2e", "%2E%2e", ".%2e", "%252e%252e",
    "%25252e%25252e", "a/b", "a%2Fb", "a%252Fb", "a\\b", "a%5Cb", "a?admin=1", "a%3Fx=1",
    "a#frag", "a%23f", "a\r\nHost: evil", "a%0d%0aX: y", "a\x00b", "a%00b", "a\tb", "",
    "\u0085", "a\x7f",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_path_parameter_injection_is_refused(personas, sdk, upstream, egress_open, value):
    make_integration(personas.workspace, upstream.url("/v1"), slug="files")
    r = call(sdk, personas.app, "files", "get:/files/{name}", {"path_params": {"name": value}})
    assert r.status_code == 400, r.json()
    assert r.json()["code"] == "invalid_params" and "name" in r.json()["errors"]["path_params"]
    assert upstream.seen == [] and credits.balance(personas.workspace) == 2000


@pytest.mark.parametrize("value, sent", [
    ("@169.254.169.254", "%40169.254.169.254"), ("http:", "http%3A"), ("a b", "a%20b"),
    ("%41", "%2541"), ("..a", "..a"), ("ü", "%C3%BC"), ("a;b=c", "a%3Bb%3Dc"),
    ("~user", "~user"), (":8080", "%3A8080"),
])
def test_path_parameter_values_stay_one_segment(personas, sdk, upstream, egress_open, value,
                                               sent):
    make_integration(personas.workspace, upstream.url("/v1"), slug="files")
    r = call(sdk, personas.app, "files", "get:/files/{name}", {"path_params": {"name": value}})
    assert r.status_code == 200, r.json()
    assert upstream.seen[-1].path == f"/v1/files/{sent}"
    assert upstream.seen[-1].headers["host"] == f"127.0.0.1:{upstream.port}"
