"""The audit trail: who changed which configuration of a workspace, when, field by field.

Every service that changes configuration calls ``record`` inside its own transaction (so the
entry commits or rolls back with the change); views, API views and tasks never call it, they
pass the actor to the service.

    audit.record(workspace, actor, "app.update", app,
                 audit.diff({"name": old}, {"name": app.name}))

- ``actor``: a dashboard ``User``; the same user authenticated by a personal access token
  (``PersonalAccessTokenAuthentication`` marks it with ``mark_personal_token``, so the entry
  names the token); ``service_token(token)``; ``app_user(label)``; ``staff_reviewer(user)``;
  ``SYSTEM`` (beat tasks, migrations: ``system("migration")``); ``None`` is the system.
- ``target``: a model instance (type: its model name, id: its ``public_id`` or pk, name: its
  ``name``) or a ``Target``; ``target_type=``/``target_name=``/``target_id=`` override.
- ``changes``: a field-level diff (``diff``): ``{field: {"from": before, "to": after}}``; a
  secret-bearing field is ``"changed"`` (or ``"set"``/``"removed"``), never a value. ``record``
  enforces it: a field whose name looks secret (``SECRET_FIELD``) never keeps a value.

Reading: ``entries(workspace, ...)`` (the page, the CSV export and the admin API), ``prune``
(the retention beat task, ``AUDIT_RETENTION_DAYS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import AuditEntry, Workspace

Kind = AuditEntry.ActorKind

#: What a secret-bearing field shows instead of its value.
CHANGED = "changed"
#: Markers a secret-bearing field may show (no value among them).
SECRET_MARKERS = frozenset({"changed", "set", "removed", "added", "unchanged", "kept", "none"})
#: Field names that carry secrets: their before/after never reach an entry.
SECRET_FIELD = re.compile(
    r"(secret|password|passwd|credential|token|api[_-]?key|authorization|cookie|private[_-]?key"
    r"|signature|^value$|^values$|^code_verifier$)", re.IGNORECASE)
#: Longest text kept for one side of a diff (prompts, descriptions); longer is cut with "…".
MAX_TEXT = 500

_PAT_ATTR = "_audit_personal_token"


@dataclass(frozen=True)
class Actor:
    kind: str
    user: Any = None
    label: str = ""


SYSTEM = Actor(Kind.SYSTEM, None, "system")


def system(label: str = "system") -> Actor:
    return Actor(Kind.SYSTEM, None, label[:200] or "system")


def staff_reviewer(user: Any) -> Actor:
    return Actor(Kind.STAFF_REVIEWER, user, f"{user.email} (staff reviewer)"[:200])


def service_token(token: Any) -> Actor:
    """An app service token (``AppServiceToken``): named, never its value."""
    return Actor(Kind.SERVICE_TOKEN, None,
                 f"service token '{token.name}' ({token.masked}) of app {token.app_id}"[:200])


def app_user(label: str) -> Actor:
    return Actor(Kind.APP_USER, None, label[:200])


def mark_personal_token(user: Any, token: Any) -> Any:
    """Called by the admin API's token authentication: entries made for this request's user
    name the personal access token it used."""
    setattr(user, _PAT_ATTR, token)
    return user


def actor_of(actor: Any, label: str = "") -> Actor:
    """Normalise what services receive as ``actor=`` (see the module doc)."""
    if isinstance(actor, Actor):
        return actor
    if getattr(actor, "is_authenticated", False) and hasattr(actor, "email"):
        token = getattr(actor, _PAT_ATTR, None)
        if token is not None:
            return Actor(Kind.PERSONAL_TOKEN, actor,
                         f"{actor.email} via token '{token.name}'"[:200])
        return Actor(Kind.USER, actor, actor.email[:200])
    if actor is not None and hasattr(actor, "masked") and hasattr(actor, "app_id"):
        return service_token(actor)
    text = (label or (actor if isinstance(actor, str) else "") or "system")[:200]
    if "service token" in text:
        return Actor(Kind.SERVICE_TOKEN, None, text)
    if text.startswith("app user"):
        return Actor(Kind.APP_USER, None, text)
    return Actor(Kind.SYSTEM, None, text)


@dataclass(frozen=True)
class Target:
    type: str
    id: str = ""
    name: str = ""


def target(obj: Any, type: str | None = None) -> Target:  # noqa: A002
    if isinstance(obj, Target):
        return obj
    ident = getattr(obj, "public_id", None) or getattr(obj, "pk", "") or ""
    name = (getattr(obj, "name", None) or getattr(obj, "label", None)
            or getattr(obj, "email", None) or str(obj))
    model_name = obj._meta.model_name if isinstance(obj, Model) else "object"
    return Target(type or model_name, str(ident), str(name))


def _plain(value: Any) -> Any:
    """A JSON-storable, bounded copy of one side of a diff."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Model):
        return str(getattr(value, "public_id", None) or value.pk)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_plain(v) for v in value]
    return _plain(str(value))


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *,
         secret: Iterable[str] = ()) -> dict[str, Any]:
    """``{field: {"from", "to"}}`` for the fields whose value differs; fields in ``secret``
    (and any whose name looks secret) are ``"changed"``. A create is ``diff(None, values)``, a
    delete ``diff(values, None)``."""
    before, after, secret = before or {}, after or {}, set(secret)
    out: dict[str, Any] = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in secret or SECRET_FIELD.search(key):
            out[key] = "set" if old is None else ("removed" if new is None else CHANGED)
        else:
            out[key] = {"from": _plain(old), "to": _plain(new)}
    return out


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


def redact(changes: Any, key: str = "") -> Any:
    """The guard ``record`` applies: under a secret-looking field name only a marker is kept."""
    if key and SECRET_FIELD.search(key):
        if isinstance(changes, str) and changes in SECRET_MARKERS:
            return changes
        if isinstance(changes, bool) or changes is None:
            return changes  # "is a value set": yes/no, not the value
        if isinstance(changes, Mapping) and set(changes) <= {"from", "to"}:
            return CHANGED
        if isinstance(changes, Mapping):  # {name: marker} (e.g. headers, installed secrets)
            return {str(k): redact(v, str(k) if not isinstance(v, str) else key)
                    for k, v in changes.items()}
        if isinstance(changes, list | tuple) and all(isinstance(v, str) for v in changes):
            return list(changes)  # names (e.g. the variables an app read), never values
        return CHANGED
    if isinstance(changes, Mapping):
        return {str(k): redact(v, str(k)) for k, v in changes.items()}
    if isinstance(changes, list | tuple):
        return [redact(v) for v in changes]
    return _plain(changes)


def record(workspace: Workspace, actor: Any = None, action: str = "", target: Any = None,
           changes: Mapping[str, Any] | None = None, *, target_type: str = "",
           target_name: str = "", target_id: str = "", scope: str = "",
           actor_label: str = "") -> AuditEntry:
    """Write one entry. Call it inside the service's transaction, once per change."""
    if not action:
        raise ValueError("An audit entry needs an action.")
    who = actor_of(actor, actor_label)
    what = _target(target) if target is not None else Target("", "", "")
    return AuditEntry.objects.create(
        workspace=workspace, actor=who.user, actor_kind=who.kind, actor_label=who.label,
        action=action[:60], target_type=(target_type or what.type)[:60],
        target_id=str(target_id or what.id)[:64], target_name=(target_name or what.name)[:200],
        scope=scope[:100], changes=redact(dict(changes or {})),
    )


_target = target


def record_many(workspaces: Iterable[Workspace], actor: Any, action: str, target: Any,
                changes: Mapping[str, Any] | None = None) -> list[AuditEntry]:
    """One entry in each workspace (e.g. a personal access token acts in all of its user's
    workspaces), in one INSERT."""
    who, what = actor_of(actor), _target(target)
    rows = [AuditEntry(workspace=ws, actor=who.user, actor_kind=who.kind, actor_label=who.label,
                       action=action[:60], target_type=what.type[:60], target_id=what.id[:64],
                       target_name=what.name[:200], changes=redact(dict(changes or {})))
            for ws in workspaces]
    return AuditEntry.objects.bulk_create(rows)


# --- reading ----------------------------------------------------------------------------------


def entries(workspace: Workspace, *, actor: str = "", action: str = "", target_type: str = "",
            since: date | None = None, until: date | None = None) -> QuerySet[AuditEntry]:
    """The workspace's entries, newest first. ``actor``: a user id, or an actor kind
    (``system``, ``service_token``, ...); ``action``: exact, or a prefix ending in ``.``
    (``app.``); ``since``/``until``: dates, both included (in the current time zone)."""
    qs = AuditEntry.objects.filter(workspace=workspace).select_related("actor")
    if actor:
        qs = qs.filter(actor_id=int(actor)) if actor.isdigit() else qs.filter(actor_kind=actor)
    if action:
        qs = qs.filter(action__startswith=action) if action.endswith(".") \
            else qs.filter(action=action)
    if target_type:
        qs = qs.filter(target_type=target_type)
    tz = timezone.get_current_timezone()
    if since and since > date(1900, 1, 1):  # earlier: no bound (and no year-1 arithmetic)
        qs = qs.filter(created_at__gte=datetime.combine(since, datetime.min.time(), tz))
    if until and until < date(9999, 12, 31):
        qs = qs.filter(created_at__lt=datetime.combine(until + timedelta(days=1),
                                                       datetime.min.time(), tz))
    return qs.order_by("-created_at", "-id")


def facets(workspace: Workspace) -> dict[str, list[str]]:
    """The actions and target types that occur in the workspace (filter choices): two
    queries."""
    base = AuditEntry.objects.filter(workspace=workspace).order_by()
    return {
        "actions": sorted(base.values_list("action", flat=True).distinct()),
        "target_types": sorted(t for t in base.values_list("target_type", flat=True).distinct()
                               if t),
    }


def target_links(workspace: Workspace, rows: Iterable[AuditEntry]) -> dict[int, str]:
    """entry pk -> URL of its target, for targets that still exist. The resolver is wired by
    ``config`` (``AUDIT_TARGET_LINKS``, a dotted path): it knows every app's pages, this floor
    names none of them. One query per target type on the page."""
    path = getattr(settings, "AUDIT_TARGET_LINKS", "")
    rows = [r for r in rows if r.target_id]
    if not path or not rows:
        return {}
    return import_string(path)(workspace, rows)


def prune(*, days: int | None = None, batch_size: int = 1000, max_batches: int | None = None,
          now: datetime | None = None) -> int:
    """Delete entries older than ``days`` (``AUDIT_RETENTION_DAYS``), ``batch_size`` rows per
    transaction (short locks, bounded WAL); returns how many were deleted. ``days`` <= 0 keeps
    everything."""
    days = settings.AUDIT_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = list(AuditEntry.objects.filter(created_at__lt=cutoff).order_by("created_at")
                       .values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted += AuditEntry.objects.filter(pk__in=ids).delete()[0]
        batches += 1
        if len(ids) < batch_size:
            break
    return deleted


def actor_choices(workspace: Workspace) -> list[tuple[str, str]]:
    """(value, label) for the actor filter: the users who appear in the workspace's entries,
    then the non-user kinds."""
    users = (AuditEntry.objects.filter(workspace=workspace, actor__isnull=False).order_by()
             .values_list("actor_id", "actor__email").distinct())
    return ([(str(pk), email) for pk, email in sorted(users, key=lambda u: u[1])]
            + [(k.value, k.label) for k in Kind if k not in (Kind.USER,)])


__all__ = ["CHANGED", "SYSTEM", "Actor", "Target", "actor_choices", "actor_of",
           "app_user", "diff", "entries", "facets", "mark_personal_token", "prune", "record",
           "record_many", "redact", "service_token", "snapshot", "staff_reviewer", "system",
           "target", "target_links"]
