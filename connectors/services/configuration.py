"""Registered (workspace) connectors: create, edit, rotate the client secret, usage and
delete. The client secret lives in the vault and goes only to the origins it was entered
for. Each change writes one audit entry in its transaction."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from integrations import egress
from secrets_vault.naming import SECRET_VALUE_MAX
from workspaces import audit
from workspaces.models import Workspace
from workspaces.validation import check_name

from .. import origins, providers
from ..models import (
    URL_FIELDS,
    Connection,
    WorkspaceConnector,
    endpoint_urls,
)
from .base import ConnectorError
from .disconnection import _revocable, _revoke_all


def _check_urls(**urls: str) -> None:
    for field, url in urls.items():
        if not url:
            continue
        try:
            egress.check_url_shape(url)
        except egress.EgressError as exc:
            raise ConnectorError(f"{field.replace('_', ' ').capitalize()}: {exc.reason}",
                                 "invalid_url")


def _connector_values(provider_type: str, authorize_url: str, token_url: str,
                      revocation_url: str) -> None:
    if provider_type:
        provider = providers.get(provider_type)
        if provider is None:
            raise ConnectorError(f"Unknown provider type '{provider_type}'.", "invalid")
        if provider.config_fields and not (authorize_url and token_url):
            # its URLs hold per-account settings (e.g. {subdomain}) a connector cannot fill
            raise ConnectorError(f"{provider.name}'s URLs depend on the account: give this "
                                 "connector's authorize and token URLs.", "invalid")
    elif not (authorize_url and token_url):
        raise ConnectorError("Choose a provider type or give the authorize and token URLs.",
                             "invalid")
    _check_urls(authorize_url=authorize_url, token_url=token_url,
                revocation_url=revocation_url)


def _duplicate_name(name: str) -> ConnectorError:
    return ConnectorError(f"A connector named “{name}” already exists.", "duplicate")


def _save_connector(connector: WorkspaceConnector) -> None:
    """Save; the name was checked first, but a concurrent request may have taken it since: the
    unique constraint then gets the same refusal as the check, not a server error."""
    try:
        with transaction.atomic():
            connector.save()
    except IntegrityError:
        raise _duplicate_name(connector.name) from None


def create_connector(workspace: Workspace, *, actor: Any, name: str, client_id: str,
                     client_secret: str, provider_type: str = "", authorize_url: str = "",
                     token_url: str = "", revocation_url: str = "", scopes: str = "",
                     pkce: bool = True, token_auth: str = "post",  # noqa: S107
                     ) -> WorkspaceConnector:
    name = name.strip()
    if not name or not client_id.strip():
        raise ConnectorError("A name and a client id are required.")
    check_name(name, what="A connector name", error=ConnectorError)
    _connector_values(provider_type, authorize_url, token_url, revocation_url)
    _check_secret(client_secret)
    with transaction.atomic():
        if WorkspaceConnector.objects.filter(workspace=workspace, name=name).exists():
            raise _duplicate_name(name)
        connector = WorkspaceConnector(
            workspace=workspace, name=name, provider_type=provider_type,
            authorize_url=authorize_url, token_url=token_url, revocation_url=revocation_url,
            client_id=client_id.strip(), client_secret=client_secret or None,
            scopes=" ".join(scopes.split()), pkce=pkce, token_auth=token_auth,
            created_by=actor if getattr(actor, "is_authenticated", False) else None)
        connector.bind_client_secret()
        _save_connector(connector)
        audit.record(workspace, actor=actor, action="connector.registered",
                     target_type="workspace_connector", target_name=name,
                     target_id=connector.public_id,
                     changes={**audit.diff(None, {
                         "name": name, "client_id": connector.client_id,
                         "provider_type": provider_type, "scopes": connector.scopes}),
                         "client_secret": "set" if client_secret else "none"})
    return connector


EDITABLE = ("name", "provider_type", "authorize_url", "token_url", "revocation_url",
            "client_id", "scopes", "pkce", "token_auth")
_URL_LABELS = {"authorize_url": "authorize URL", "token_url": "token URL",
               "revocation_url": "revocation URL"}


def _check_secret(client_secret: str | None) -> None:
    if client_secret and len(client_secret) > SECRET_VALUE_MAX:
        raise ConnectorError(f"Client secrets are limited to {SECRET_VALUE_MAX} characters "
                             "(the vault's limit).", "max_length", field="client_secret")


def _check_secret_origins(connector: WorkspaceConnector, merged: dict[str, Any]) -> None:
    """The stored client secret only goes to the origins it was entered for: a URL moved to
    another origin needs the secret typed again in the same save (a new path is fine)."""
    if connector.client_secret is None:
        return
    bound = set(connector.client_secret_origins or ())
    urls = endpoint_urls(merged["provider_type"], **{f: merged[f] for f in URL_FIELDS})
    for field, url in urls.items():
        origin = origins.url_origin(url)
        if origin and origin not in bound:
            raise ConnectorError(
                f"The {_URL_LABELS[field]} now points to another server ({origin}) than the "
                f"stored client secret was entered for ({', '.join(sorted(bound)) or 'none'}). "
                "Enter the client secret again to save this change, so it is never sent to a "
                "server it was not meant for.", "client_secret_required", field=field)


def update_connector(connector: WorkspaceConnector, *, actor: Any, client_secret: str = "",
                     **values: Any) -> WorkspaceConnector:
    """Edit; ``client_secret`` (optional) replaces the stored one in the same save, and is
    required when a URL moves to another origin (``_check_secret_origins``)."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    merged = {f: values.get(f, getattr(connector, f)) for f in EDITABLE}
    merged["scopes"] = " ".join(str(merged["scopes"]).split())
    merged["name"] = str(merged["name"]).strip()
    check_name(merged["name"], what="A connector name", error=ConnectorError)
    _connector_values(merged["provider_type"], merged["authorize_url"], merged["token_url"],
                      merged["revocation_url"])
    _check_secret(client_secret)
    if not client_secret:
        _check_secret_origins(connector, merged)
    with transaction.atomic():
        if (merged["name"] != connector.name and WorkspaceConnector.objects.filter(
                workspace=connector.workspace, name=merged["name"]).exists()):
            raise _duplicate_name(merged["name"])
        changes = audit.diff({f: getattr(connector, f) for f in EDITABLE}, merged)
        for f, v in merged.items():
            setattr(connector, f, v)
        if client_secret:
            connector.client_secret = client_secret
            connector.secret_rotated_at = timezone.now()
            changes["client_secret"] = "changed"
            connector.bind_client_secret()
        try:
            _save_connector(connector)
        except ConnectorError:
            connector.refresh_from_db()  # the caller shows it: not with the refused values
            raise
        if changes:
            audit.record(connector.workspace, actor=actor, action="connector.updated",
                         target_type="workspace_connector", target_name=connector.name,
                         target_id=connector.public_id, changes=changes)
    return connector


def rotate_client_secret(connector: WorkspaceConnector, *, actor: Any,
                         client_secret: str) -> None:
    if not client_secret:
        raise ConnectorError("Give the new client secret.", field="client_secret")
    _check_secret(client_secret)
    with transaction.atomic():
        connector.client_secret = client_secret
        connector.secret_rotated_at = timezone.now()
        connector.bind_client_secret()  # entered for the URLs the connector has now
        connector.save(update_fields=["client_secret", "secret_rotated_at",
                                      "client_secret_origins", "updated_at"])
        audit.record(connector.workspace, actor=actor, action="connector.secret_rotated",
                     target_type="workspace_connector", target_name=connector.name,
                     target_id=connector.public_id, changes={"client_secret": "changed"})


def connector_usage(connector: WorkspaceConnector) -> list[dict[str, Any]]:
    """Per app using the connector: ``{app_id, name, shared, app_users}`` (one query)."""
    per_app = (Connection.objects.filter(connector=connector)
               .values("app__public_id", "app__name", "kind").annotate(n=Count("id"))
               .order_by("app__name"))
    usage: dict[str, dict[str, Any]] = {}
    for row in per_app:
        entry = usage.setdefault(row["app__public_id"], {"app_id": row["app__public_id"],
                                                         "name": row["app__name"],
                                                         "shared": 0, "app_users": 0})
        if row["kind"] == Connection.Kind.WORKSPACE:
            entry["shared"] += row["n"]
        else:
            entry["app_users"] += row["n"]
    return list(usage.values())


def delete_connector(connector: WorkspaceConnector, *, actor: Any) -> None:
    """Deletes its connections too (tokens revoked at the provider first, best effort)."""
    conns = list(Connection.objects.select_related("app", "app__workspace", "connector",
                                                   "app_user").filter(connector=connector))
    revocations = [_revocable(c) for c in conns]
    with transaction.atomic():
        audit.record(connector.workspace, actor=actor, action="connector.deleted",
                     target_type="workspace_connector", target_name=connector.name,
                     target_id=connector.public_id, changes={"connections_removed": len(conns)})
        connector.delete()
    for endpoints, pairs in revocations:
        _revoke_all(endpoints, pairs)
