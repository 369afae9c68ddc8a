"""A fully qualified name with a trailing dot is a valid public URL: allowed, and still
resolved and checked like any other name (and never a way around the deny table)."""

from __future__ import annotations

import pytest

from integrations.egress import EgressBlocked, EgressPolicy, check_url, check_url_shape


def test_trailing_dot_fqdn_is_allowed_and_resolved() -> None:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.215.14"]

    checked = check_url("https://api.example.com./v1", policy=EgressPolicy(), resolver=resolver)
    assert asked == ["api.example.com"]  # resolved (once), as the absolute name
    assert checked.host == "api.example.com"  # Host header, SNI and certificate name
    assert checked.addresses == ("93.184.215.14",)
    assert checked.path_and_query == "/v1"
    assert check_url_shape("https://api.example.com./v1").host == "api.example.com"


def test_trailing_dot_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(EgressBlocked, match="denied address"):
        check_url("https://evil.example./", policy=EgressPolicy(),
                  resolver=lambda h, p: ["10.0.0.5"])


@pytest.mark.parametrize("url", ["http://localhost./", "http://metadata.google.internal./",
                                 "http://127.0.0.1./", "http://./", "http://a../",
                                 "http://example.com../"])
def test_trailing_dot_never_dodges_the_guard(url: str) -> None:
    with pytest.raises(EgressBlocked):
        check_url_shape(url)
    with pytest.raises(EgressBlocked):
        check_url(url, policy=EgressPolicy(), resolver=lambda h, p: ["127.0.0.1"])
