"""Which address is the client's: for the sign-in lockout (django-axes through django-ipware).

Behind reverse proxies every request comes from the last proxy (REMOTE_ADDR), which appends the
address it saw to X-Forwarded-For. Only the entries the trusted proxies appended can be
believed: the client writes anything it likes in front of them. With TRUSTED_PROXY_COUNT = N
proxies, the client is the N-th entry from the right of X-Forwarded-For (N = 1, the usual
single nginx/Caddy/ALB: the rightmost entry). django-ipware counts only the proxies *listed*
in the header (the last proxy's own address is REMOTE_ADDR, not in it), hence N - 1.
Without a proxy (N = 0) X-Forwarded-For is ignored: anyone could set it.
"""

from __future__ import annotations


def client_ip_settings(trusted_proxies: int) -> dict[str, object]:
    """The django-axes / django-ipware settings for N trusted reverse proxies."""
    if trusted_proxies < 0:
        raise ValueError("TRUSTED_PROXY_COUNT must be 0 or more")
    common: dict[str, object] = {
        "AXES_IPWARE_PROXY_ORDER": "left-most",  # the header lists the client first
        "AXES_IPWARE_PROXY_TRUSTED_IPS": None,
        # django-ipware's strict mode refuses a chain longer than expected (a client that sent
        # its own X-Forwarded-For) and falls back to REMOTE_ADDR, the proxy: that would put
        # such clients in one shared bucket again. Non-strict takes the N-th entry from the
        # right whatever came before it.
        "IPWARE_STRICT": False,
    }
    if trusted_proxies == 0:
        return {**common, "AXES_IPWARE_PROXY_COUNT": None,
                "AXES_IPWARE_META_PRECEDENCE_ORDER": ["REMOTE_ADDR"]}
    return {**common, "AXES_IPWARE_PROXY_COUNT": trusted_proxies - 1,
            # X-Forwarded-For only (never X-Real-IP, Forwarded, CDN headers a client could
            # send through); REMOTE_ADDR when it is missing or shorter than the proxy chain.
            "AXES_IPWARE_META_PRECEDENCE_ORDER": ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]}
