"""Outbound HTTP with an SSRF guard: the one way Switchboard talks to the outside world.

Used by the spec fetcher, the integration proxy and the OAuth connectors. Knows nothing of the
ORM. Two layers guard every request:

1. ``check_url`` parses the *raw* URL string itself (http/https only, no userinfo, whitespace,
   control characters or backslashes, canonical host, allowed port) before any library can
   "helpfully" rewrite it, then resolves the host exactly once and checks every address
   against a deny table of everything that is not globally routable.
2. The transport connects to the address that was checked (a urllib3 pool per pinned address),
   keeping the original name for the Host header, TLS SNI and the certificate check, so a
   second DNS answer (rebinding) never matters.

No proxies from the environment are used (urllib3 is used directly, so ``trust_env`` does not
exist here). Every error is an ``EgressError`` whose ``phase`` says whether the upstream may
have seen the request: ``not_sent``, ``responded``, ``timed_out`` or ``sent_unconfirmed``.

One module per job; each imports only the ones above it in this list:

    base       phases, ports, hop-by-hop headers, the errors
    policy     EgressPolicy (ports, networks, timeouts, sizes)
    addresses  the deny table, check_address
    urls       the raw URL parsed by hand, resolved once, checked (check_url, check_url_shape)
    headers    path parameters, header validation, hop-by-hop stripping
    pools      pinned connection pools, the attempt tracker
    transport  request: redirects hop by hop, the capped body, errors with their phase

Callers use this package (``from integrations import egress``), never the modules. Setting a
name on the package (a test's ``monkeypatch.setattr(egress, "_default_resolver", ...)``) sets
it in every module that uses it, as when this was one module (``workspaces.packages``).
"""

from __future__ import annotations

from workspaces.packages import forward_names

from . import addresses, base, headers, policy, pools, transport, urls
from .addresses import (
    check_address,
)
from .base import DEFAULT_ALLOWED_PORTS as DEFAULT_ALLOWED_PORTS
from .base import DEFAULT_PORTS as DEFAULT_PORTS
from .base import (
    HOP_BY_HOP_HEADERS,
    MANAGED_REQUEST_HEADERS,
    PHASE_NOT_SENT,
    PHASE_RESPONDED,
    PHASE_SENT_UNCONFIRMED,
    PHASE_TIMED_OUT,
    EgressBlocked,
    EgressConnectError,
    EgressError,
    EgressInvalidInput,
    EgressProtocolError,
    EgressTimeout,
    EgressTooLarge,
    EgressTooManyRedirects,
    Resolver,
)
from .base import REDIRECT_STATUSES as REDIRECT_STATUSES
from .headers import (
    strip_hop_by_hop,
    validate_header,
    validate_path_param,
)
from .policy import (
    EgressPolicy,
)
from .pools import (
    clear_pools,
)
from .transport import (
    EgressResponse,
    request,
)
from .urls import (
    CheckedURL,
    check_url,
    check_url_shape,
)
from .urls import _default_resolver as _default_resolver

_MODULES = (base, policy, addresses, urls, headers, pools, transport)
forward_names(__name__, _MODULES)

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "MANAGED_REQUEST_HEADERS",
    "PHASE_NOT_SENT",
    "PHASE_RESPONDED",
    "PHASE_SENT_UNCONFIRMED",
    "PHASE_TIMED_OUT",
    "CheckedURL",
    "EgressBlocked",
    "EgressConnectError",
    "EgressError",
    "EgressInvalidInput",
    "EgressPolicy",
    "EgressProtocolError",
    "EgressResponse",
    "EgressTimeout",
    "EgressTooLarge",
    "EgressTooManyRedirects",
    "Resolver",
    "check_address",
    "check_url",
    "check_url_shape",
    "clear_pools",
    "request",
    "strip_hop_by_hop",
    "validate_header",
    "validate_path_param",
]
