"""integrations.egress: the SSRF guard, pinned transport, redirects, caps and error phases."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3

from integrations import egress
from integrations.egress import (
    CheckedURL,
    EgressBlocked,
    EgressConnectError,
    EgressError,
    EgressInvalidInput,
    EgressPolicy,
    EgressProtocolError,
    EgressTimeout,
    EgressTooLarge,
    EgressTooManyRedirects,
    check_address,
    check_url,
    request,
    strip_hop_by_hop,
    validate_header,
    validate_path_param,
)
from tests.integrations.egress_support import (
    Handler,
    Upstream,
    body,
    drip,
    make_tls,
    raw,
    redirect,
    slow,
)

LOOPBACK = ("127.0.0.0/8",)


class FakeResolver:
    """resolver(host, port) -> answers[host] (a list, or a list of lists for successive calls)."""

    def __init__(self, answers: dict[str, list[str] | list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answer = self.answers[host]
        if answer and isinstance(answer[0], list):
            n = sum(1 for h, _ in self.calls if h == host) - 1
            return list(answer[min(n, len(answer) - 1)])
        return list(answer)  # type: ignore[arg-type]


def never_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolver must not be called (asked for {host!r})")


def policy(*servers: Upstream, allow: tuple[str, ...] = LOOPBACK, **kw: object) -> EgressPolicy:
    ports = {80, 443, *(s.port for s in servers)}
    options: dict[str, object] = {"connect_timeout": 2.0, "read_timeout": 2.0, "deadline": 5.0}
    options.update(kw)
    return EgressPolicy(allow_cidrs=allow, allowed_ports=frozenset(ports), **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh_pools() -> Iterator[None]:
    yield
    egress.clear_pools()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def other_upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


# --------------------------------------------------------------------------- layer 1: raw URL

NON_CANONICAL_LITERALS = [
    "127.1",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "0x7f000001",
    "0x7F.0.0.1",
    "0X7F000001",
    "127.0.0.01",
    "127.0.1",
    "017700000001",
    "1.2.3.4.5",
    "256.0.0.1",
    "8.8.8.010",
    "0x",
    "example.0x7f",
    "example.123",
    "１２７.０.０.１",  # full-width digits: IDNA maps them to 127.0.0.1
]


@pytest.mark.parametrize("host", NON_CANONICAL_LITERALS)
def test_it_refuses_non_canonical_ip_literals_outright(host: str) -> None:
    # Even with loopback and everything else opened, layer 1 refuses these encodings.
    wide_open = EgressPolicy(allow_cidrs=("0.0.0.0/0", "::/0"))
    with pytest.raises(EgressBlocked, match="non-canonical IP"):
        check_url(f"http://{host}/", policy=wide_open, resolver=never_resolve)


DENIED = [
    "127.0.0.1",
    "127.255.255.254",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[::7f00:1]",
    "[2002:7f00:1::]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::127.0.0.1]",
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b:1::808:808]",
    "[fd00:ec2::254]",
    "169.254.169.254",
    "169.254.0.1",
    "168.63.129.16",
    "100.100.100.200",
    "100.64.0.1",
    "100.127.255.255",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "192.168.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "198.18.0.1",
    "198.19.255.255",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "192.0.0.8",
    "192.88.99.1",
    "240.0.0.1",
    "255.255.255.255",
    "[::]",
    "[fe80::1]",
    "[fec0::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[ff02::1]",
    "[ff0e::1]",
    "[2001:db8::1]",
    "[3fff::1]",
    "[2001::1]",
    "[2001:2::1]",
    "[100::1]",
    "[5f00::1]",
    "[4000::1]",
    "[::ffff:0:7f00:1]",
    "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:100.64.0.1]",
    "[2002:a9fe:a9fe::1]",
    "[2002:c0a8:101::1]",
    "[64:ff9b::10.0.0.1]",
    "[64:ff9b::c0a8:1]",
]


@pytest.mark.parametrize("literal", DENIED)
def test_it_refuses_addresses_that_are_not_globally_routable(literal: str) -> None:
    with pytest.raises(EgressBlocked, match="(not|never) allowed"):
        check_url(f"http://{literal}/", policy=EgressPolicy(), resolver=never_resolve)


@pytest.mark.parametrize("literal", DENIED)
def test_it_refuses_hostnames_resolving_to_those_addresses(literal: str) -> None:
    resolver = FakeResolver({"evil.example": [literal.strip("[]")]})
    with pytest.raises(EgressBlocked, match="'evil.example' resolves to a denied address"):
        check_url("https://evil.example/x", policy=EgressPolicy(), resolver=resolver)
    assert resolver.calls == [("evil.example", 443)]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("1.1.1.1", "1.1.1.1"),
        ("11.0.0.1", "11.0.0.1"),
        ("172.32.0.1", "172.32.0.1"),
        ("100.128.0.1", "100.128.0.1"),
        ("[2606:4700:4700::1111]", "2606:4700:4700::1111"),
        ("[2606:4700:4700:0:0:0:0:1111]", "2606:4700:4700::1111"),
        ("[2002:808:808::1]", "2002:808:808::1"),
        ("[64:ff9b::808:808]", "64:ff9b::808:808"),
    ],
)
def test_it_accepts_public_addresses(literal: str, expected: str) -> None:
    checked = check_url(f"http://{literal}/a", policy=EgressPolicy(), resolver=never_resolve)
    assert checked.addresses == (expected,)
    assert checked.is_ip_literal
    assert checked.host == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://168.63.129.16/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_metadata_and_unspecified_stay_closed_whatever_allow_cidrs_says(url: str) -> None:
    wide_open = EgressPolicy(allow_cidrs=("0.0.0.0/0", "::/0"))
    with pytest.raises(EgressBlocked, match="never allowed"):
        check_url(url, policy=wide_open, resolver=never_resolve)


def test_allow_cidrs_opens_only_the_named_ranges() -> None:
    local = EgressPolicy(allow_cidrs=LOOPBACK)
    assert check_url("http://127.0.0.1/", policy=local).addresses == ("127.0.0.1",)
    assert check_url("http://127.9.9.9/", policy=local).addresses == ("127.9.9.9",)
    for url in ("http://[::1]/", "http://10.0.0.1/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(EgressBlocked):
            check_url(url, policy=local)
    with pytest.raises(EgressBlocked, match="loopback"):
        check_url("http://127.0.0.1/", policy=EgressPolicy())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user@example.com/", "userinfo"),
        ("http://user:pass@example.com/", "userinfo"),
        ("http://example.com@127.0.0.1/", "userinfo"),
        ("http://@example.com/", "userinfo"),
        ("http://example.com\\@127.0.0.1/", "backslash"),
        ("http:\\\\example.com/", "backslash"),
        ("http://example.com/a\\b", "backslash"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/a b", "whitespace"),
        (" http://example.com/", "whitespace"),
        ("http://example.com/\t", "whitespace"),
        ("http://example.com\u3000/", "whitespace"),
        ("http://example.com/\xa0", "whitespace"),
        ("http://example.com/\x00", "control"),
        ("http://example.com/\r\nX-Injected: 1", "control"),
        ("http://example.com\r\n/", "control"),
        ("http://example.com/\x7f", "control"),
        ("http://exa\u200bmple.com/", "control"),
        ("http://127.0.0.1%2e/", "'%'"),
        ("http://exa%6dple.com/", "'%'"),
        ("http://%31%32%37.0.0.1/", "'%'"),
        ("http://[fe80::1%25eth0]/", "'%'"),
        ("file:///etc/passwd", "scheme .file."),
        ("gopher://example.com/", "scheme 'gopher'"),
        ("ftp://example.com/", "scheme 'ftp'"),
        ("ws://example.com/", "scheme 'ws'"),
        ("javascript:alert(1)", "absolute"),
        ("//example.com/", "absolute"),
        ("example.com/", "absolute"),
        ("http:/example.com/", "absolute"),
        ("http:example.com", "absolute"),
        ("http://example.com:22/", "port 22"),
        ("http://example.com:6379/", "port 6379"),
        ("https://example.com:80x/", "port is not"),
        ("http://example.com:0/", "port is not"),
        ("http://example.com:65536/", "port is not"),
        ("http://example.com:080/", "port is not"),
        ("http://example.com:+80/", "port is not"),
        ("http://example.com:/", "port is not"),
        ("http:///path", "no host"),
        ("http://:80/", "no host"),
        ("http://[::1/", "bracketed"),
        ("http://[::1]x/", "bracketed"),
        ("http://[127.0.0.1]/", "IPv6"),
        ("http://[v1.fe]/", "IPv6"),
        ("http://a:b:c/", "unbracketed"),
        ("http://::1/", "unbracketed"),
        ("http://a..b/", "valid hostname"),
        ("http://example.com../", "valid hostname"),  # one trailing dot is an FQDN: allowed
        ("http://-example.com/", "valid hostname"),
        ("http://exa!mple.com/", "valid hostname"),
        ("http://" + "a" * 64 + ".com/", "valid hostname"),
        ("http://example.com/" + "a" * 9000, "too long"),
    ],
)
def test_it_refuses_malformed_urls_before_resolving(url: str, message: str) -> None:
    with pytest.raises(EgressBlocked, match=message):
        check_url(url, policy=EgressPolicy(), resolver=never_resolve)


def test_it_normalises_what_it_accepts() -> None:
    resolver = FakeResolver({"example.com": ["93.184.215.14"], "xn--bcher-kva.de": ["8.8.4.4"]})
    checked = check_url(
        "HTTPS://Example.COM/a/%2e/b?c=d&e=%zz#frag", policy=EgressPolicy(), resolver=resolver
    )
    assert checked == CheckedURL(
        "https", "example.com", 443, "/a/%2e/b?c=d&e=%zz", ("93.184.215.14",), False
    )
    assert checked.url == "https://example.com/a/%2e/b?c=d&e=%zz"
    assert checked.host_header == "example.com"
    idn = check_url("http://Bücher.de:8080?x=1", policy=EgressPolicy(), resolver=resolver)
    assert (idn.host, idn.port, idn.path_and_query) == ("xn--bcher-kva.de", 8080, "/?x=1")
    assert idn.host_header == "xn--bcher-kva.de:8080"
    assert resolver.calls == [("example.com", 443), ("xn--bcher-kva.de", 8080)]
    v6 = check_url("https://[2606:4700::1111]:8443", policy=EgressPolicy())
    assert v6.host_header == "[2606:4700::1111]:8443"


def test_the_default_port_allowlist_is_narrow() -> None:
    default = EgressPolicy()
    assert default.allowed_ports == frozenset({80, 443, 8000, 8080, 8443})
    assert default.allow_cidrs == ()
    resolver = FakeResolver({"example.com": ["93.184.215.14"]})
    for port in (80, 443, 8000, 8080, 8443):
        assert check_url(f"http://example.com:{port}/", policy=default, resolver=resolver)
    with pytest.raises(EgressBlocked, match="port 9000 is not allowed"):
        check_url("http://example.com:9000/", policy=default, resolver=resolver)


# --------------------------------------------------------------------------- resolution


def test_it_refuses_a_name_that_resolves_public_first_and_private_second() -> None:
    resolver = FakeResolver({"mixed.example": ["93.184.215.14", "8.8.8.8", "10.0.0.7"]})
    with pytest.raises(EgressBlocked, match=r"10\.0\.0\.7.*private"):
        check_url("http://mixed.example/", policy=EgressPolicy(), resolver=resolver)


def test_it_returns_every_checked_address_in_order_without_duplicates() -> None:
    resolver = FakeResolver(
        {"multi.example": ["8.8.8.8", "2606:4700::1111", "8.8.8.8", "2606:4700:0::1111"]}
    )
    checked = check_url("http://multi.example/", policy=EgressPolicy(), resolver=resolver)
    assert checked.addresses == ("8.8.8.8", "2606:4700::1111")


def test_resolution_failures_are_connect_errors_that_were_not_sent() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(EgressConnectError, match="could not resolve") as info:
        check_url("http://nowhere.example/", policy=EgressPolicy(), resolver=failing)
    assert info.value.phase == "not_sent" and not info.value.may_have_been_sent
    with pytest.raises(EgressConnectError, match="did not resolve"):
        check_url("http://x.example/", policy=EgressPolicy(), resolver=lambda h, p: [])
    with pytest.raises(EgressBlocked, match="invalid address"):
        check_url("http://x.example/", policy=EgressPolicy(), resolver=lambda h, p: ["nope"])


def test_the_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, *args: object, **kw: object) -> list[tuple]:
        assert (host, port) == ("svc.example", 443)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", port, 0, 2)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(EgressBlocked, match="fe80::1 is not allowed"):
        check_url("https://svc.example/", policy=EgressPolicy())


def test_check_address_is_usable_alone() -> None:
    check_address("8.8.8.8", policy=EgressPolicy())
    with pytest.raises(EgressBlocked, match="carrier-grade NAT"):
        check_address("100.64.1.1", policy=EgressPolicy())
    with pytest.raises(EgressBlocked, match="not an IP"):
        check_address("localhost", policy=EgressPolicy())


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("abc", "abc"),
        ("a b", "a%20b"),
        ("ü", "%C3%BC"),
        ("a%b", "a%25b"),
        ("...", "..."),
        ("a.b", "a.b"),
        ("x;y=1&z", "x%3By%3D1%26z"),
        ("%41", "%2541"),
    ],
)
def test_validate_path_param_encodes_a_single_segment(value: str, encoded: str) -> None:
    assert validate_path_param(value) == encoded


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "a/b",
        "a/../b",
        "a\\b",
        "a?b=1",
        "a#b",
        "%2e",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%252e%252e",
        "%25252e%25252e",
        "a%2Fb",
        "a%2fb",
        "a%5Cb",
        "a%3Fb",
        "a%23b",
        "a\x00b",
        "a%00b",
        "line\nbreak",
        "a%0d%0ab",
        "\x7f",
    ],
)
def test_validate_path_param_refuses_anything_that_leaves_the_segment(value: str) -> None:
    with pytest.raises(EgressInvalidInput):
        validate_path_param(value)


def test_validate_header_refuses_injection_without_echoing_the_value() -> None:
    validate_header("X-Api-Key", "abc\tdef é")
    validate_header("x_weird!header", "")
    for name in ("", "X Api", "X:Api", "X-Api\r\n", "Ä", "X-Api\x00"):
        with pytest.raises(EgressInvalidInput, match="invalid header name"):
            validate_header(name, "v")
    for value in ("s3cret\r\nX-Injected: 1", "s3cret\nx", "s3cret\rx", "s3cret\x00", "s3cret\x7f"):
        with pytest.raises(EgressInvalidInput) as info:
            validate_header("Authorization", value)
        assert "s3cret" not in info.value.reason and "s3cret" not in str(info.value)
    with pytest.raises(EgressInvalidInput, match="ISO-8859-1"):
        validate_header("X-Api-Key", "s3cret€")


def test_strip_hop_by_hop() -> None:
    headers = urllib3.HTTPHeaderDict(
        [
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-Private"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"),
            ("TE", "trailers"),
            ("Trailer", "X-Sum"),
            ("Proxy-Authenticate", "Basic"),
            ("Proxy-Authorization", "Basic eA=="),
            ("X-Private", "1"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-RateLimit-Remaining", "42"),
        ]
    )
    kept = strip_hop_by_hop(headers)
    assert sorted(kept.keys()) == ["Content-Type", "Set-Cookie", "X-RateLimit-Remaining"]
    assert kept.getlist("set-cookie") == ["a=1", "b=2"]
    assert strip_hop_by_hop({"connection": "close", "ETag": "x"}) == {"ETag": "x"}
    assert {"connection", "transfer-encoding", "keep-alive", "upgrade"} <= egress.HOP_BY_HOP_HEADERS


# --------------------------------------------------------------------------- policy


def test_policy_from_settings(settings: object) -> None:
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8", "10.1.0.0/16"]  # type: ignore[attr-defined]
    settings.EGRESS_ALLOWED_PORTS = [443, 8443]  # type: ignore[attr-defined]
    first = EgressPolicy.from_settings()
    assert first.allow_cidrs == ("127.0.0.0/8", "10.1.0.0/16")
    assert first.allowed_ports == frozenset({443, 8443})
    assert EgressPolicy.from_settings() is first  # parsed once, reused on the hot path
    assert check_url("https://10.1.2.3/").addresses == ("10.1.2.3",)
    with pytest.raises(EgressBlocked, match="port 80"):
        check_url("http://10.1.2.3/")
    settings.EGRESS_ALLOW_CIDRS = []  # type: ignore[attr-defined]
    with pytest.raises(EgressBlocked):
        check_url("https://10.1.2.3/")


def test_policy_falls_back_to_defaults_without_django_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import django.conf

    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.setattr(django.conf, "settings", django.conf.LazySettings())
    assert EgressPolicy.from_settings() == EgressPolicy()


def test_policy_rejects_bad_cidrs() -> None:
    with pytest.raises(ValueError):
        EgressPolicy(allow_cidrs=("not-a-network",))
    assert EgressPolicy(allow_cidrs="10.0.0.0/8").allow_cidrs == ("10.0.0.0/8",)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- transport


def test_it_pins_the_checked_address_and_defeats_dns_rebinding(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # First answer is the (allowed) test upstream, every later answer is the metadata service.
    resolver = FakeResolver({"upstream.test": [["127.0.0.1"], ["169.254.169.254"]]})
    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(host: str, *args: object, **kw: object) -> object:
        assert host == "127.0.0.1", f"second lookup of {host!r}"
        return real_getaddrinfo(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    url = f"http://upstream.test:{upstream.port}/hello?x=1"
    resp = request("GET", url, policy=policy(upstream), resolver=resolver)
    assert resp.status == 200
    assert resolver.calls == [("upstream.test", upstream.port)]
    assert upstream.seen[0].headers["host"] == f"upstream.test:{upstream.port}"
    assert upstream.seen[0].path == "/hello?x=1"
    assert resp.url == url
    # The next call resolves again (once) and is refused, although a warm pool exists.
    with pytest.raises(EgressBlocked, match="169.254.169.254"):
        request("GET", url, policy=policy(upstream), resolver=resolver)
    assert len(upstream.seen) == 1


def test_loopback_is_closed_unless_allowed(upstream: Upstream) -> None:
    with pytest.raises(EgressBlocked, match="loopback") as info:
        request("GET", upstream.url("/"), policy=policy(upstream, allow=()))
    assert info.value.phase == "not_sent"
    assert upstream.seen == []
    assert request("GET", upstream.url("/"), policy=policy(upstream)).status == 200


def test_it_sends_method_body_and_headers_but_manages_framing_itself(upstream: Upstream) -> None:
    resp = request(
        "post",
        upstream.url("/echo"),
        headers={
            "X-Api-Key": "k1",
            "Host": "evil.example",
            "Content-Length": "999",
            "Connection": "close",
            "Content-Type": "application/json",
        },
        body=b'{"a": 1}',
        policy=policy(upstream),
    )
    seen = upstream.seen[0]
    assert (resp.status, seen.method, seen.body) == (200, "POST", b'{"a": 1}')
    assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"
    assert seen.headers["content-length"] == "8"
    assert seen.headers["x-api-key"] == "k1"
    assert seen.headers["user-agent"].startswith("Switchboard-Egress")
    assert "close" not in seen.headers.get("connection", "")
    assert resp.headers["content-type"] == "application/json"
    assert resp.elapsed > 0


def test_it_refuses_bad_methods_and_headers_before_sending(upstream: Upstream) -> None:
    with pytest.raises(EgressInvalidInput):
        request("GET /x HTTP/1.1\r\n", upstream.url("/"), policy=policy(upstream))
    with pytest.raises(EgressInvalidInput) as info:
        request(
            "GET",
            upstream.url("/"),
            headers={"Authorization": "Bearer s3cret\r\nX-Evil: 1"},
            policy=policy(upstream),
        )
    assert "s3cret" not in str(info.value) and info.value.phase == "not_sent"
    with pytest.raises(EgressBlocked) as blocked:
        request("GET", "http://10.0.0.1/", headers={"Authorization": "Bearer s3cret"})
    assert "s3cret" not in str(blocked.value)
    assert upstream.seen == []


def test_head_requests(upstream: Upstream) -> None:
    resp = request("HEAD", upstream.url("/"), policy=policy(upstream))
    assert (resp.status, resp.body, upstream.seen[0].method) == (200, b"", "HEAD")


def test_redirects_are_not_followed_by_default(upstream: Upstream) -> None:
    upstream.routes["/moved"] = redirect("/final", 302)
    resp = request("GET", upstream.url("/moved"), policy=policy(upstream))
    assert (resp.status, resp.headers["location"], resp.body) == (302, "/final", b"moved")
    assert [s.path for s in upstream.seen] == ["/moved"]


def test_redirects_are_followed_up_to_the_limit_keeping_same_origin_headers(
    upstream: Upstream,
) -> None:
    upstream.routes["/r1"] = redirect("/r2", 301)
    upstream.routes["/r2"] = redirect(upstream.url("/r3"), 307)
    upstream.routes["/r3"] = redirect("final?q=1", 308)
    resp = request(
        "GET",
        upstream.url("/r1"),
        headers={"Authorization": "Bearer t"},
        policy=policy(upstream),
        max_redirects=3,
    )
    assert resp.status == 200
    assert resp.url == upstream.url("/final?q=1")
    assert resp.redirects == (upstream.url("/r1"), upstream.url("/r2"), upstream.url("/r3"))
    assert [s.path for s in upstream.seen] == ["/r1", "/r2", "/r3", "/final?q=1"]
    assert all(s.headers.get("authorization") == "Bearer t" for s in upstream.seen)


def test_too_many_redirects(upstream: Upstream) -> None:
    upstream.routes["/loop"] = redirect("/loop")
    with pytest.raises(EgressTooManyRedirects) as info:
        request("GET", upstream.url("/loop"), policy=policy(upstream), max_redirects=3)
    assert info.value.phase == "sent_unconfirmed"
    assert len(upstream.seen) == 4


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1:{port}/",
        "http://127.1:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://internal.test:{port}/",
        "file:///etc/passwd",
        "http://user@127.0.0.1:{port}/",
        "http://127.0.0.1:22/",
    ],
)
def test_each_redirect_hop_is_checked(upstream: Upstream, location: str) -> None:
    upstream.routes["/go"] = redirect(location.format(port=upstream.port))
    resolver = FakeResolver({"internal.test": ["192.168.1.10"]})
    with pytest.raises(EgressBlocked, match="redirect refused") as info:
        request(
            "GET",
            upstream.url("/go"),
            policy=policy(upstream),
            resolver=resolver,
            max_redirects=3,
        )
    assert info.value.phase == "sent_unconfirmed"
    assert [s.path for s in upstream.seen] == ["/go"]


def test_a_cross_origin_redirect_drops_every_configured_header(
    upstream: Upstream, other_upstream: Upstream
) -> None:
    upstream.routes["/start"] = redirect(f"http://other.test:{other_upstream.port}/landing")
    resolver = FakeResolver({"upstream.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    secrets = {"Authorization": "Bearer s3cret", "X-Api-Key": "k3y", "Cookie": "sid=1"}
    resp = request(
        "GET",
        f"http://upstream.test:{upstream.port}/start",
        headers=secrets,
        policy=policy(upstream, other_upstream),
        resolver=resolver,
        max_redirects=3,
    )
    assert resp.status == 200
    first, landed = upstream.seen[0], other_upstream.seen[0]
    assert first.headers["authorization"] == "Bearer s3cret"
    assert landed.headers["host"] == f"other.test:{other_upstream.port}"
    for name in ("authorization", "x-api-key", "cookie"):
        assert name not in landed.headers
    # Same host, different port is another origin too.
    upstream.routes["/port"] = redirect(other_upstream.url("/again"))
    request(
        "GET",
        upstream.url("/port"),
        headers=secrets,
        policy=policy(upstream, other_upstream),
        max_redirects=1,
    )
    assert "authorization" not in other_upstream.seen[-1].headers


def test_redirect_method_rules(upstream: Upstream, other_upstream: Upstream) -> None:
    upstream.routes["/see-other"] = redirect("/next", 303)
    upstream.routes["/temp"] = redirect("/next", 307)
    upstream.routes["/away"] = redirect(other_upstream.url("/next"), 307)
    pol = policy(upstream, other_upstream)
    hdrs = {"Content-Type": "application/json"}
    request(
        "POST", upstream.url("/see-other"), headers=hdrs, body=b"{}", policy=pol, max_redirects=1
    )
    assert (upstream.seen[-1].method, upstream.seen[-1].body) == ("GET", b"")
    assert "content-type" not in upstream.seen[-1].headers
    request("POST", upstream.url("/temp"), body=b"{}", policy=pol, max_redirects=1)
    assert (upstream.seen[-1].method, upstream.seen[-1].body) == ("POST", b"{}")
    with pytest.raises(EgressBlocked, match="body to another origin"):
        request("POST", upstream.url("/away"), body=b"secret", policy=pol, max_redirects=1)
    assert other_upstream.seen == []


def test_size_cap(upstream: Upstream) -> None:
    upstream.routes["/big"] = body(b"x" * 5000)
    upstream.routes["/chunked"] = body(b"y" * 5000, chunked=True)
    pol = policy(upstream, max_bytes=4999)
    for path in ("/big", "/chunked"):
        with pytest.raises(EgressTooLarge) as info:
            request("GET", upstream.url(path), policy=pol)
        assert (info.value.phase, info.value.status) == ("responded", 200)
    assert len(request("GET", upstream.url("/chunked"), policy=pol, max_bytes=5000).body) == 5000
    assert request("GET", upstream.url("/big"), policy=policy(upstream)).body == b"x" * 5000


def test_gzip_is_decoded_and_capped_after_decoding(upstream: Upstream) -> None:
    upstream.routes["/gz"] = body(b"z" * 20000, gzipped=True)
    resp = request(
        "GET", upstream.url("/gz"), headers={"Accept-Encoding": "gzip"}, policy=policy(upstream)
    )
    assert resp.body == b"z" * 20000
    assert "content-encoding" not in resp.headers and "content-length" not in resp.headers
    assert len(gzip.compress(b"z" * 20000)) < 1000
    with pytest.raises(EgressTooLarge):
        request("GET", upstream.url("/gz"), policy=policy(upstream), max_bytes=1000)


def test_read_timeout_means_the_request_may_have_run(upstream: Upstream) -> None:
    # the upstream answers after 5 s: only the 0.2 s read timeout can end the call with an error
    upstream.routes["/slow"] = slow(5.0)
    with pytest.raises(EgressTimeout) as info:
        request("POST", upstream.url("/slow"), body=b"x", policy=policy(upstream, read_timeout=0.2))
    assert info.value.phase == "timed_out" and info.value.may_have_been_sent
    assert upstream.seen[0].body == b"x"


def test_the_overall_deadline_stops_a_dripping_body(upstream: Upstream) -> None:
    # every chunk arrives well within the read timeout; only the overall deadline stops it
    upstream.routes["/drip"] = drip(0.05, 100)
    with pytest.raises(EgressTimeout) as info:
        request("GET", upstream.url("/drip"), policy=policy(upstream, read_timeout=1, deadline=0.4))
    assert info.value.phase == "timed_out" and info.value.status == 200


def test_connection_refused_was_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pol = EgressPolicy(allow_cidrs=LOOPBACK, allowed_ports=frozenset({port}))
    with pytest.raises(EgressConnectError, match="could not connect") as info:
        request("POST", f"http://127.0.0.1:{port}/", body=b"x", policy=pol)
    assert info.value.phase == "not_sent" and not info.value.may_have_been_sent


def test_connect_timeout_was_not_sent(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(*args: object, **kw: object) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", hang)
    with pytest.raises(EgressTimeout, match="connecting") as info:
        request("POST", upstream.url("/"), body=b"x", policy=policy(upstream))
    assert info.value.phase == "not_sent" and not info.value.may_have_been_sent
    assert upstream.seen == []


def test_a_garbage_answer_is_a_protocol_error_after_sending(upstream: Upstream) -> None:
    upstream.routes["/garbage"] = raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    with pytest.raises(EgressProtocolError) as info:
        request("POST", upstream.url("/garbage"), body=b"x", policy=policy(upstream))
    assert info.value.phase == "sent_unconfirmed" and info.value.may_have_been_sent


def test_a_truncated_body_is_a_protocol_error_with_the_status(upstream: Upstream) -> None:
    upstream.routes["/short"] = raw(b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\nonly ten.")
    with pytest.raises(EgressProtocolError) as info:
        request("GET", upstream.url("/short"), policy=policy(upstream))
    assert (info.value.phase, info.value.status) == ("responded", 201)


def test_warm_calls_reuse_the_pinned_connection(upstream: Upstream) -> None:
    resolver = FakeResolver({"upstream.test": ["127.0.0.1"]})
    url = f"http://upstream.test:{upstream.port}/echo"
    pol = policy(upstream)
    for _ in range(20):
        assert request("GET", url, policy=pol, resolver=resolver).status == 200
    assert len({s.client_port for s in upstream.seen}) == 1
    # A failed call (cap exceeded mid-stream) discards its connection instead of reusing it.
    upstream.routes["/big"] = body(b"x" * 5000, chunked=True)
    with pytest.raises(EgressTooLarge):
        request("GET", url.replace("/echo", "/big"), policy=pol, resolver=resolver, max_bytes=10)
    assert request("GET", url, policy=pol, resolver=resolver).status == 200
    assert len({s.client_port for s in upstream.seen}) == 2


def test_it_falls_back_to_the_next_checked_address_only_while_nothing_was_sent(
    upstream: Upstream,
) -> None:
    # Nothing listens on 127.0.0.2:port, so the first address is refused.
    resolver = FakeResolver({"upstream.test": ["127.0.0.2", "127.0.0.1"]})
    url = f"http://upstream.test:{upstream.port}/"
    assert request("GET", url, policy=policy(upstream), resolver=resolver).status == 200
    assert len(resolver.calls) == 1


def test_concurrent_calls_share_pools_safely(upstream: Upstream) -> None:
    pol = policy(upstream)
    statuses: list[int] = []

    def work() -> None:
        for _ in range(5):
            statuses.append(request("GET", upstream.url("/"), policy=pol).status)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 40
    assert len({s.client_port for s in upstream.seen}) <= 10


def test_calls_past_the_pool_size_close_their_connection_without_a_warning(
    upstream: Upstream, settings, caplog: pytest.LogCaptureFixture,
) -> None:
    settings.EGRESS_POOL_MAXSIZE = 2
    upstream.routes["/slow"] = slow(0.3)
    pol = policy(upstream)
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(
        request("GET", upstream.url("/slow"), policy=pol).status)) for _ in range(6)]
    with caplog.at_level(logging.WARNING):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses == [200] * 6
    assert len({s.client_port for s in upstream.seen}) == 6  # six at once: six connections
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    # two were kept alive: the next calls reuse them, no new connection
    for _ in range(2):
        assert request("GET", upstream.url("/"), policy=pol).status == 200
    assert len({s.client_port for s in upstream.seen}) == 6


def test_tls_uses_the_original_name_for_sni_and_the_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("cryptography")
    ctx, ca = make_tls(tmp_path, "upstream.test")
    server = Upstream(tls=ctx)
    try:
        pol = policy(server, ca_certs=ca)
        resolver = FakeResolver({"upstream.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        resp = request(
            "GET", f"https://upstream.test:{server.port}/tls", policy=pol, resolver=resolver
        )
        assert resp.status == 200
        assert server.sni == ["upstream.test"]
        assert server.seen[0].headers["host"] == f"upstream.test:{server.port}"
        # Same pinned IP, but a name the certificate does not cover: refused during the
        # handshake, so nothing was sent.
        with pytest.raises(EgressConnectError, match="TLS handshake.*(mismatch|match)") as info:
            request(
                "POST",
                f"https://other.test:{server.port}/",
                body=b"x",
                policy=pol,
                resolver=resolver,
            )
        assert info.value.phase == "not_sent"
        # An IP-literal URL is checked against the IP, which the certificate does not cover.
        with pytest.raises(EgressConnectError):
            request("GET", server.url("/"), policy=pol)
        assert [s.path for s in server.seen] == ["/tls"]
    finally:
        server.close()


def test_errors_share_one_base_class() -> None:
    for cls in (
        EgressBlocked,
        EgressConnectError,
        EgressTimeout,
        EgressTooLarge,
        EgressProtocolError,
        EgressInvalidInput,
        EgressTooManyRedirects,
    ):
        assert issubclass(cls, EgressError)
    assert EgressTimeout("x", phase="not_sent").may_have_been_sent is False
    assert EgressTimeout("x").phase == "timed_out"


def test_a_connection_closed_by_the_upstream_while_idle_is_replaced(upstream: Upstream) -> None:
    def reply_then_hang_up(h: Handler) -> None:
        h.reply(200, b"bye")
        h.close_connection = True  # no "Connection: close" header: the client finds out later

    upstream.routes["/bye"] = reply_then_hang_up
    pol = policy(upstream)
    for _ in range(3):
        assert request("POST", upstream.url("/bye"), body=b"x", policy=pol).body == b"bye"
        time.sleep(0.05)
    assert len({s.client_port for s in upstream.seen}) == 3


class TestCheckUrlShape:
    def test_accepts_a_hostname_without_resolving(self):
        from integrations.egress import check_url_shape

        checked = check_url_shape("https://api.example.com/v1")
        assert checked.host == "api.example.com" and checked.addresses == ()

    @pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://169.254.169.254/latest",
                                     "http://127.1/", "ftp://example.com/", "http://a@b.com/",
                                     "https://example.com:22/"])
    def test_refuses_private_literals_and_bad_shapes(self, url):
        from integrations.egress import EgressBlocked, check_url_shape

        with pytest.raises(EgressBlocked):
            check_url_shape(url)

    @pytest.mark.parametrize("url", ["http://localhost:8000/", "http://LocalHost/x",
                                     "https://api.localhost/", "http://metadata.google.internal/",
                                     "http://instance-data/latest"])
    def test_refuses_well_known_local_names_without_dns(self, url):
        """Every user of the shape check (integration and spec URLs, connector endpoints)
        refuses the names whose address is known without DNS."""
        from integrations.egress import EgressBlocked, EgressPolicy, check_url_shape

        with pytest.raises(EgressBlocked, match="is a local name"):
            check_url_shape(url, policy=EgressPolicy(allowed_ports=frozenset({80, 443, 8000})))
        if "localhost" in url.lower():  # an allowlisted loopback range lets it through
            loopback = EgressPolicy(allow_cidrs=("127.0.0.0/8",),
                                    allowed_ports=frozenset({80, 443, 8000}))
            assert check_url_shape(url, policy=loopback).addresses == ()
