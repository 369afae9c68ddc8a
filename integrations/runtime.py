"""The proxy's hot-path view of an integration: looked up with one small query per call, the
rest (parsed operations, compiled validators, resolved headers) cached in this process.

Cache key: ``(integration id, config_version, updated_at)``. ``integrations.services`` bumps
``config_version`` (and ``updated_at``) on every edit inside the edit's transaction, and the
per-call lookup reads both from the database, so an edit is seen by every process on the very
next call: no cross-process invalidation is needed. ``updated_at`` also covers saves that do
not bump the version (the Django admin). Entries additionally expire after
``PROXY_CONFIG_CACHE_SECONDS`` (a bound on anything changed behind the integration's back).

The per-call lookup itself (slug -> id, version) is kept for ``SDK_LOOKUP_CACHE_SECONDS``
per process: any save or delete of an integration drops it at once in the process that made
it (and again when the change's transaction commits) and is published to every other process
through the shared epoch (``workspaces.sdk_cache``), so an edit applies at the next call any
process serves.

The cache is process-local on purpose: it holds resolved header values (secrets), which must
never be written to a shared cache such as Redis.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from workspaces import sdk_cache

from . import openapi
from .models import WorkspaceIntegration

_TEMPLATE_VAR = re.compile(r"\{([^{}/]+)\}")
# Characters kept as-is in the static parts of a path template (RFC 3986 pchar + "/" + "%").
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_MAX_ENTRIES = 512


@dataclass(frozen=True)
class IntegrationRef:
    """What the per-call query returns: enough to find (or build) the cached config."""

    id: int
    public_id: str
    slug: str
    config_version: int
    updated_at: datetime
    last_used_at: datetime | None

    @property
    def cache_key(self) -> tuple[int, int, float]:
        return (self.id, self.config_version, self.updated_at.timestamp())


@dataclass
class ParamRule:
    name: str
    required: bool
    schema: Any  # the raw schema (refs kept), used for coercion hints
    validator: Any  # jsonschema validator with refs resolvable against the stored sub-document
    coerce_to: str | None  # "integer" / "number" / "boolean" / "string" / None
    item_type: str | None  # for arrays: the item type, for coercion


@dataclass
class BodyRule:
    content_type: str | None
    required: bool
    validator: Any | None


@dataclass
class OperationPlan:
    key: str  # "get:/pets/{petId}"
    method: str  # upper case
    path: str  # the template as stored
    segments: list[tuple[str, str | None]]  # (encoded static text, var name or None)
    template_vars: list[str]
    path_params: dict[str, ParamRule]
    query_params: dict[str, ParamRule]
    body: BodyRule | None


@dataclass
class IntegrationConfig:
    ref: IntegrationRef
    workspace_id: int
    base_url: str  # scheme://host[:port][/base path], no trailing slash, no query
    base_query: str  # a query string the base URL carried ("" usually)
    headers: dict[str, str]  # configured headers, sensitive values resolved (process memory only)
    header_names: frozenset[str]  # lower-case
    sensitive_names: frozenset[str]  # lower-case names the integration marks sensitive
    selected: frozenset[str]
    operation_ids: dict[str, str]  # legacy operationId -> key (unique ones only)
    operations_doc: dict[str, Any]
    built_at: float
    _plans: dict[str, OperationPlan] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, key: str) -> OperationPlan:
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key)
                if plan is None:
                    plan = build_plan(self.operations_doc, key)
                    self._plans[key] = plan
        return plan


# --------------------------------------------------------------------------- per-call lookup


_LOOKUP_FIELDS = ("id", "public_id", "slug", "config_version", "updated_at", "last_used_at")


@lru_cache(maxsize=1)
def _lookup_sql() -> str:
    opts = WorkspaceIntegration._meta
    qn = connection.ops.quote_name
    columns = ", ".join(qn(opts.get_field(name).column) for name in _LOOKUP_FIELDS)
    workspace, slug = (qn(opts.get_field(n).column) for n in ("workspace", "slug"))
    # only quoted identifiers from the model's meta are interpolated; values are parameters
    return (f"SELECT {columns} FROM {qn(opts.db_table)} "  # noqa: S608
            f"WHERE {workspace} = %s AND {slug} = %s")


def _aware(value: Any) -> datetime | None:
    """A timestamp from a raw cursor: PostgreSQL gives aware datetimes, SQLite naive UTC ones
    (or text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


_REFS: dict[tuple[int, str], tuple[float, IntegrationRef]] = {}
_REFS_MAX = 4096
_refs_generation = [0]  # bumped by every forget: a row read before it is not stored after
_REFS_LOCK = threading.Lock()


def _lookup_ttl() -> float:
    return sdk_cache.seconds()


def lookup(workspace_id: int, slug: str) -> IntegrationRef | None:
    """The integration with this slug in the workspace, or None: from this process's cache
    for ``SDK_LOOKUP_CACHE_SECONDS``, else one query (raw SQL: this runs on every proxied
    call, and the ORM's query building costs more than the query itself)."""
    ttl = _lookup_ttl()
    key = (workspace_id, slug)
    if ttl > 0:
        hit = _REFS.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    generation = _refs_generation[0]
    with connection.cursor() as cursor:
        cursor.execute(_lookup_sql(), [workspace_id, slug])
        row = cursor.fetchone()
    if row is None:
        return None
    pk, public_id, slug, version, updated_at, last_used_at = row
    updated = _aware(updated_at)
    assert updated is not None
    ref = IntegrationRef(pk, public_id, slug, version, updated, _aware(last_used_at))
    if ttl > 0:
        with _REFS_LOCK:
            if generation == _refs_generation[0]:
                if len(_REFS) >= _REFS_MAX:
                    _REFS.clear()
                _REFS[key] = (time.monotonic() + ttl, ref)
    return ref


def note_used(workspace_id: int, ref: IntegrationRef, when: datetime) -> None:
    """``last_used_at`` was just written: the cached lookup says so too (else every call
    would think it is due again)."""
    key = (workspace_id, ref.slug)
    with _REFS_LOCK:
        hit = _REFS.get(key)
        if hit is not None and hit[1].id == ref.id:
            _REFS[key] = (hit[0], replace(hit[1], last_used_at=when))


def _forget_refs() -> None:
    with _REFS_LOCK:
        _REFS.clear()
        _refs_generation[0] += 1


sdk_cache.register(_forget_refs)  # another process changed an integration


def forget_lookups(using: str | None = None, **_: Any) -> None:
    """Drop this process's cached lookups (connected to saves and deletes of integrations):
    now, and again when the change's transaction commits."""
    _forget_refs()
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_forget_refs, using=using)
    sdk_cache.bump(using)


for _signal in (post_save, post_delete):
    _signal.connect(forget_lookups, sender=WorkspaceIntegration,
                    dispatch_uid=f"integrations.runtime.forget_lookups.{id(_signal)}")


def release_db_connection() -> None:
    """Hand this request's database connection back before a long upstream wait.

    With the bounded pool (``DATABASES[...]["OPTIONS"]["pool"]``, see ``DB_POOL_MAX_SIZE``)
    ``close()`` returns the connection to the pool and the next query borrows one again, so
    a thousand calls waiting on upstreams hold no PostgreSQL connection. Never inside a
    transaction (the caller's atomic block keeps its connection), and not without a pool
    (closing a persistent connection would only cost a reconnect).
    """
    if connection.in_atomic_block or connection.connection is None:
        return
    if connection.settings_dict.get("OPTIONS", {}).get("pool"):
        connection.close()


# --------------------------------------------------------------------------- process cache

_CACHE: OrderedDict[int, IntegrationConfig] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_BUILD_LOCKS: dict[int, threading.Lock] = {}


def _ttl() -> float:
    return float(getattr(settings, "PROXY_CONFIG_CACHE_SECONDS", 60))


def _fresh(config: IntegrationConfig | None, ref: IntegrationRef) -> bool:
    return (
        config is not None
        and config.ref.cache_key == ref.cache_key
        and time.monotonic() - config.built_at < _ttl()
    )


def config_for(ref: IntegrationRef) -> IntegrationConfig:
    """The cached config of ``ref``'s exact version, built (a few queries) when missing.

    Raises ``services.HeadersUnavailable`` when a sensitive header can't be loaded; nothing
    is cached then, so the next call tries again.
    """
    config = _CACHE.get(ref.id)
    if _fresh(config, ref):
        assert config is not None
        return config
    with _CACHE_LOCK:
        build_lock = _BUILD_LOCKS.setdefault(ref.id, threading.Lock())
    with build_lock:  # one build per integration at a time in this process
        config = _CACHE.get(ref.id)
        if _fresh(config, ref):
            assert config is not None
            return config
        config = _build(ref)
        with _CACHE_LOCK:
            _CACHE[ref.id] = config  # replaces any older version of this integration
            _CACHE.move_to_end(ref.id)
            while len(_CACHE) > _MAX_ENTRIES:
                old_id, _ = _CACHE.popitem(last=False)
                _BUILD_LOCKS.pop(old_id, None)
        return config


def invalidate(integration_id: int | None = None) -> None:
    """Drop one integration (or everything) from this process's cache. Not needed after an
    edit through ``integrations.services`` (the version bump does it); for tests and tools.
    Cached lookups are dropped too."""
    _forget_refs()
    with _CACHE_LOCK:
        if integration_id is None:
            _CACHE.clear()
        else:
            _CACHE.pop(integration_id, None)


def _headers_of(integration: WorkspaceIntegration) -> dict[str, str]:
    from .services import integration_headers

    return integration_headers(integration)


def _build(ref: IntegrationRef) -> IntegrationConfig:
    integration = (
        WorkspaceIntegration.objects.select_related("workspace")
        .prefetch_related("headers")
        .get(pk=ref.id)
    )
    # Read what the row says now: if it moved on since the lookup, key the entry by what was
    # actually read, so a stale entry can never be served under a newer key.
    ref = IntegrationRef(
        integration.pk,
        integration.public_id,
        integration.slug,
        integration.config_version,
        integration.updated_at,
        ref.last_used_at,
    )
    headers = _headers_of(integration)
    sensitive = frozenset(h.name.lower() for h in integration.headers.all() if h.sensitive)
    parts = urlsplit(integration.base_url.strip())
    base_url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    doc = integration.operations_doc or {}
    selected = frozenset(integration.selected_keys or [])
    return IntegrationConfig(
        ref=ref,
        workspace_id=integration.workspace_id,
        base_url=base_url,
        base_query=parts.query,
        headers=headers,
        header_names=frozenset(name.lower() for name in headers),
        sensitive_names=sensitive,
        selected=selected,
        operation_ids=_operation_ids(doc, selected),
        operations_doc=doc,
        built_at=time.monotonic(),
    )


def _operation_ids(doc: Mapping[str, Any], selected: frozenset[str]) -> dict[str, str]:
    """operationId -> key for the selected operations (ambiguous ids are left out)."""
    found: dict[str, list[str]] = {}
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method, op in item.items():
            key = f"{method}:{path}"
            if key in selected and isinstance(op, dict):
                op_id = op.get("operationId")
                if isinstance(op_id, str) and op_id:
                    found.setdefault(op_id, []).append(key)
    return {op_id: keys[0] for op_id, keys in found.items() if len(keys) == 1}


# --------------------------------------------------------------------------- operation plans


def _deref(schema: Any, doc: Mapping[str, Any], depth: int = 0) -> Any:
    """Follow internal ``$ref``s of a schema (for coercion hints only)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 20:
        target = openapi.resolve_ref(doc, schema["$ref"])
        if target is None:
            return {}
        schema, depth = target, depth + 1
    return schema


def _simple_type(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["integer", "null"]
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    return kind if isinstance(kind, str) else None


def _has_ref(schema: Any, depth: int = 0) -> bool:
    if depth > 64:
        return True  # deep enough: let the reference-resolving validator judge it
    if isinstance(schema, dict):
        return any(k in ("$ref", "$dynamicRef", "$id") or _has_ref(v, depth + 1)
                   for k, v in schema.items())
    if isinstance(schema, list):
        return any(_has_ref(v, depth + 1) for v in schema)
    return False


def _validator(schemas: openapi.OperationSchemas, item: Any) -> Any:
    """The item's validator. Its root is a ``$ref`` to the item inside the stored
    sub-document (so the refs it holds resolve); a schema without any ref is validated
    directly, which saves resolving that pointer on every call (same class, same registry,
    same verdicts)."""
    validator = schemas.validator(item)
    if isinstance(item.schema, dict) and not _has_ref(item.schema):
        return validator.evolve(schema=item.schema)
    return validator


def _param_rule(schemas: openapi.OperationSchemas, item: openapi.ParamSchema,
                doc: Mapping[str, Any]) -> ParamRule:
    resolved = _deref(item.schema, doc)
    kind = _simple_type(resolved)
    item_type = None
    if kind == "array" and isinstance(resolved, dict):
        item_type = _simple_type(_deref(resolved.get("items"), doc))
    return ParamRule(
        name=item.name,
        required=item.required,
        schema=item.schema,
        validator=_validator(schemas, item),
        coerce_to=kind,
        item_type=item_type,
    )


def _segments(path: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    segments: list[tuple[str, str | None]] = []
    names: list[str] = []
    pos = 0
    for match in _TEMPLATE_VAR.finditer(path):
        segments.append((quote(path[pos : match.start()], safe=_PATH_SAFE), None))
        segments.append(("", match.group(1)))
        names.append(match.group(1))
        pos = match.end()
    segments.append((quote(path[pos:], safe=_PATH_SAFE), None))
    return [s for s in segments if s[0] or s[1]], list(dict.fromkeys(names))


def build_plan(doc: Mapping[str, Any], key: str) -> OperationPlan:
    method, _, path = key.partition(":")
    schemas = openapi.operation_schemas(doc, key)
    segments, names = _segments(path)
    path_rules = {p.name: _param_rule(schemas, p, doc) for p in schemas.path_params}
    for name in names:  # a template variable the spec forgot to declare: a plain string
        if name not in path_rules:
            path_rules[name] = ParamRule(name, True, {}, None, None, None)
    body = None
    if schemas.body is not None:
        validator = None
        if schemas.body.schema not in (None, {}):
            validator = _validator(schemas, schemas.body)
        body = BodyRule(schemas.body.content_type, schemas.body.required, validator)
    return OperationPlan(
        key=key,
        method=method.upper(),
        path=path,
        segments=segments,
        template_vars=names,
        path_params=path_rules,
        query_params={p.name: _param_rule(schemas, p, doc) for p in schemas.query_params},
        body=body,
    )
