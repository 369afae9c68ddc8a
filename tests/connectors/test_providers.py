"""The providers file: complete, valid, safe URLs; overrides; config values can't reshape URLs."""

from __future__ import annotations

import pytest

from connectors import providers
from integrations import egress

SDK_EXAMPLES = {"googlecalendar", "slack", "slackbot", "github", "discord", "notion", "hubspot",
                "gmail", "googledrive", "googlesheets", "gitlab", "linear", "dropbox",
                "salesforce", "x"}


def _filled(url: str, p: providers.Provider) -> str:
    return providers.fill(url, {f: "acme" for f in p.config_fields})


def test_file_has_the_sdk_connectors_and_every_url_passes_the_guard():
    everything = providers.all_providers()
    assert SDK_EXAMPLES <= set(everything)
    policy = egress.EgressPolicy.from_settings()
    for p in everything.values():
        urls = [p.authorize_url, p.token_url, p.revocation_url, *(u for _, u in p.hosts)]
        for url in filter(None, urls):
            filled = _filled(url, p)
            assert filled.startswith("https://"), (p.type, url)
            egress.check_url_shape(filled, policy=policy)
        assert p.token_auth in ("post", "basic")
        assert all(h == h.lower() for h in p.request_headers | p.response_headers)
        assert "authorization" not in p.request_headers, p.type  # apps never override ours
        if p.metered:
            assert p.hosts and p.price > 0, p.type


def test_metered_prices_by_path_pattern():
    x = providers.get("x")
    assert x is not None and x.metered and x.default_host == "api"
    assert x.price_for("POST", "/2/tweets") == 3
    assert x.price_for("GET", "/2/tweets") == 1  # the POST price is per method
    assert x.price_for("GET", "/2/tweets/search/all") == 100
    assert x.price_for("GET", "/2/users/me") == 1
    assert x.is_binary("image/png") and x.is_binary("application/pdf")
    assert not x.is_binary("application/json")
    assert providers.get("github").metered is False


def test_overrides_patch_and_add_providers(settings):
    settings.CONNECTOR_PROVIDER_OVERRIDES = {
        "github": {"token_url": "https://staging.example.com/token"},
        "acme": {"name": "Acme", "authorize_url": "https://acme.example.com/a",
                 "token_url": "https://acme.example.com/t", "hosts": {"api": "https://acme.io/"}},
    }
    assert providers.get("github").token_url == "https://staging.example.com/token"
    assert providers.get("github").authorize_url == "https://github.com/login/oauth/authorize"
    acme = providers.get("acme")
    assert acme.host_url(None) == "https://acme.io" and acme.host_url("nope") is None


@pytest.mark.parametrize("raw,message", [
    ({"authorize_url": "https://a.example.com/a", "token_url": "https://a.example.com/t"},
     "lacks name"),
    ({"name": "N", "authorize_url": "https://a.example.com/a"}, "lacks token_url"),
    ({"name": "N", "authorize_url": "https://a", "token_url": "https://t",
      "token_auth": "header"}, "token_auth"),
])
def test_invalid_entries_are_refused_loudly(raw, message):
    with pytest.raises(providers.ProviderConfigError, match=message):
        providers._build("ok_type", raw)
    with pytest.raises(providers.ProviderConfigError, match="Invalid integration type"):
        providers._build("Bad/Type", {"name": "n", "authorize_url": "a", "token_url": "t"})


@pytest.mark.parametrize("value", ["evil.com/x", "a.b", "x@y", "", "-acme", "a b", "a:1"])
def test_connection_config_values_cannot_reshape_a_url(value):
    with pytest.raises(providers.ProviderConfigError):
        providers.fill("https://{subdomain}.zendesk.com/api/v2", {"subdomain": value})
    assert providers.fill("https://{subdomain}.zendesk.com/api/v2", {"subdomain": "acme-2"}) == \
        "https://acme-2.zendesk.com/api/v2"


def test_values_not_used_in_a_url_are_not_checked_there():
    config = {"subdomain": "acme", "instance_url": "https://na1.salesforce.com"}
    assert providers.fill("https://{subdomain}.zendesk.com", config) == "https://acme.zendesk.com"
    with pytest.raises(providers.ProviderConfigError, match="missing"):
        providers.fill("https://{subdomain}.zendesk.com", {})


@pytest.mark.parametrize("value", ["evil.com/acme", "a b", "acme.", "-acme", "acme-", "x" * 64,
                                   "acme\n", ""])
def test_the_connect_form_refuses_what_fill_refuses(value):
    """The dashboard form and ``fill`` share one rule for connection-config values."""
    from connectors.forms import PlatformConnectForm

    provider = providers.get("zendesk")
    assert provider is not None
    form = PlatformConnectForm({"zendesk-subdomain": value}, provider=provider, prefix="zendesk")
    assert not form.is_valid()
    ok = PlatformConnectForm({"zendesk-subdomain": "acme-1"}, provider=provider,
                             prefix="zendesk")
    assert ok.is_valid() and ok.cleaned_data == {"subdomain": "acme-1"}
