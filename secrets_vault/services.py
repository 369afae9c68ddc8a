"""The vault's actions and its small read API. Views, serializers, tasks and other apps call
these; role checks stay in the callers (as everywhere in this project).

Writes (each in one transaction, with its audit row; never a value in the audit):
    create_secret / set_secret / delete_secret / delete_secret_named
    create_custom_api / update_custom_api / delete_custom_api
Reads that never decrypt:
    get_secret, get_user_secret, list_secrets, secret_names, effective_secrets, list_custom_apis,
    effective_custom_apis, environment_names
Reads that decrypt (raise crypto.DecryptionFailed, never return ciphertext):
    reveal, resolve_value, environment_for_app, read_environment (audited; the endpoint's)
Which apps receive workspace-scope values (workspace secrets, organization Custom APIs):
    workspace_access, has_workspace_access, apps_with_workspace_access,
    grant_workspace_access / revoke_workspace_access (admins; audited),
    grant_if_created_by_admin (on app creation)

THE access rule: an app's backend (functions/env, the only door values leave by) receives
workspace secrets and organization Custom APIs only while the app has an `AppSecretAccess`
grant. An app created by an admin or owner is granted on creation; an app created by a plain
member gets only its own app secrets and app-scope Custom APIs until an admin grants it. Every
read of `effective_secrets`/`effective_custom_apis` for an app applies it, so the names the
catalog shows as set are the ones the app really gets. Server-side use of workspace values for
an app (the proxy adding an integration's headers) never hands them to the app and is not
limited by it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from workspaces import audit
from workspaces.models import App, Membership, Workspace
from workspaces.plans import ROLE_FOR
from workspaces.services import ServiceError
from workspaces.validation import check_name

from . import naming
from .crypto import DecryptionFailed
from .models import AppSecretAccess, CustomApi, Secret, SecretVersion

log = logging.getLogger(__name__)

__all__ = [
    "DecryptionFailed", "VaultError", "app_overrides_workspace", "apps_with_workspace_access",
    "create_custom_api", "create_secret", "delete_custom_api", "delete_secret",
    "delete_secret_named", "effective_custom_apis", "effective_secrets", "environment_for_app",
    "environment_names", "get_secret", "get_user_secret", "grant_if_created_by_admin",
    "grant_workspace_access", "has_workspace_access", "list_custom_apis", "list_secrets",
    "read_environment", "resolve_value", "reveal", "revoke_workspace_access", "secret_names",
    "set_secret", "update_custom_api", "workspace_access",
]

T = TypeVar("T", Secret, CustomApi)
_UNSET: Any = object()


class VaultError(ServiceError):
    """A broken rule; the message is safe to show and never contains a value. `field` (from
    ServiceError) names the form/serializer field it belongs to, when there is one."""


def _valid(check: Callable[[Any], Any], value: Any, field: str) -> Any:
    try:
        return check(value)
    except ValidationError as exc:
        raise VaultError(" ".join(exc.messages), exc.code or "invalid", field)


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _label(actor: Any, actor_label: str = "") -> str:
    if actor_label:
        return actor_label[:200]
    user = _user(actor)
    return user.email if user is not None else (str(actor)[:200] if actor else "system")


def _check_app(workspace: Workspace, app: App | None) -> None:
    if app is not None and app.workspace_id != workspace.pk:
        raise ValueError("The app belongs to another workspace.")


def _where(app: App | None) -> str:
    return f"in the app “{app.name}”" if app is not None else "in this workspace"


# --- the resolution rule ----------------------------------------------------------------------


def app_overrides_workspace(rows: Iterable[T], key: Callable[[T], str]) -> dict[str, T]:
    """THE resolution rule: of rows sharing a key, the app-scoped one wins over the
    workspace-scoped one. Used for secrets (key: name) and Custom APIs (key: variable)."""
    winners: dict[str, T] = {}
    for row in sorted(rows, key=lambda r: r.app_id is not None):  # workspace rows first
        winners[key(row)] = row
    return winners


def _in_scope(app: App | None, workspace_scope: bool = True) -> Q:
    if app is None:
        return Q(app=None)
    return Q(app=None) | Q(app=app) if workspace_scope else Q(app=app)


def _sees_workspace(app: App | None, workspace_scope: bool | None) -> bool:
    """Whether workspace-scope rows apply to `app`: explicit, or (None) the app's grant."""
    if workspace_scope is not None:
        return workspace_scope
    return app is None or has_workspace_access(app)


# --- which apps receive workspace-scope values ------------------------------------------------


def workspace_access(app: App) -> AppSecretAccess | None:
    """The app's grant to workspace secrets and organization Custom APIs, or None. Always read
    from the database (never cached), so a revoke applies to the very next call."""
    return (AppSecretAccess.objects.select_related("granted_by").filter(app_id=app.pk).first())


def has_workspace_access(app: App) -> bool:
    return AppSecretAccess.objects.filter(app_id=app.pk).exists()


def apps_with_workspace_access(workspace: Workspace) -> list[App]:
    return list(App.objects.filter(workspace=workspace, workspace_secret_access__isnull=False)
                .only("public_id", "name", "workspace_id").order_by("name"))


def _audit_access(app: App, actor: Any, action: str, changes: dict[str, Any],
                  actor_label: str = "") -> None:
    audit.record(app.workspace, actor=actor, actor_label=actor_label,
                 action=f"app.workspace_secrets.{action}", target_type="app",
                 target_name=app.name, target_id=app.public_id, scope=f"app:{app.public_id}",
                 changes=changes)


@transaction.atomic
def grant_workspace_access(app: App, *, actor: Any,
                           reason: str = AppSecretAccess.Reason.GRANTED) -> AppSecretAccess:
    """Let the app's backend receive workspace secrets and organization Custom APIs (from its
    next functions/env call). Admins and owners only: the caller checks the role
    (`manage_secrets`). Granting an app that already has access changes nothing."""
    App.objects.select_for_update().filter(pk=app.pk).first()
    existing = workspace_access(app)
    if existing is not None:
        return existing
    user = _user(actor)
    grant = AppSecretAccess.objects.create(app=app, granted_by=user,
                                           granted_by_label="" if user else _label(actor),
                                           reason=reason)
    _audit_access(app, actor, "grant", {"reason": reason},
                  actor_label="" if user else _label(actor))
    return grant


@transaction.atomic
def revoke_workspace_access(app: App, *, actor: Any) -> bool:
    """Take the grant away; the app's next functions/env call gets only its own secrets. True
    when there was a grant."""
    App.objects.select_for_update().filter(pk=app.pk).first()
    deleted, _ = AppSecretAccess.objects.filter(app_id=app.pk).delete()
    if deleted:
        _audit_access(app, actor, "revoke", {})
    return bool(deleted)


def grant_if_created_by_admin(app: App) -> AppSecretAccess | None:
    """Called once when an app is created: an app created by an admin or owner of its workspace
    receives the workspace's secrets (recorded and audited as that person's grant); an app
    created by a plain member does not, until an admin grants it."""
    creator = app.created_by
    if creator is None:
        return None
    membership = Membership.objects.filter(workspace_id=app.workspace_id, user=creator).first()
    if membership is None or not membership.has_role(ROLE_FOR["manage_secrets"]):
        return None
    return grant_workspace_access(app, actor=creator,
                                  reason=AppSecretAccess.Reason.CREATED_BY_ADMIN)


# --- secrets: reads ---------------------------------------------------------------------------


def get_secret(workspace: Workspace, name: str, *, app: App | None = None) -> Secret | None:
    """The secret of exactly this scope (no fallback), or None."""
    _check_app(workspace, app)
    return (Secret.objects.select_related("app", "updated_by")
            .filter(workspace=workspace, app=app, name=name).first())


def get_user_secret(workspace: Workspace, name: str, *, app: App | None = None) -> Secret | None:
    """`get_secret`, but only a user secret: system-managed ones are not the Secrets page's or
    the admin API's to show or change."""
    secret = get_secret(workspace, name, app=app)
    return secret if secret is not None and secret.kind == Secret.Kind.USER else None


def list_secrets(workspace: Workspace, app: App | None = None, *,
                 kind: str = Secret.Kind.USER) -> Any:
    """Secrets of exactly this scope, for listing (values stay sealed)."""
    _check_app(workspace, app)
    return (Secret.objects.filter(workspace=workspace, app=app, kind=kind)
            .select_related("app", "updated_by").order_by("name"))


def secret_names(workspace: Workspace, app: App | None = None) -> list[str]:
    """Names of the user secrets of exactly this scope (an app's own, or the workspace's)."""
    return list(list_secrets(workspace, app).values_list("name", flat=True))


def effective_secrets(workspace: Workspace, app: App | None = None, *,
                      kinds: Iterable[str] = (Secret.Kind.USER,),
                      names: Iterable[str] | None = None,
                      workspace_scope: bool | None = None) -> dict[str, Secret]:
    """Name -> the secret that applies to `app` (or to the workspace when app is None).

    For an app, workspace secrets count only while it has a grant (`workspace_scope=None`);
    True/False decides explicitly (True: server-side use that never reaches the app)."""
    _check_app(workspace, app)
    scope = _in_scope(app, _sees_workspace(app, workspace_scope))
    qs = Secret.objects.filter(scope, workspace=workspace, kind__in=list(kinds))
    if names is not None:
        qs = qs.filter(name__in=list(names))
    return app_overrides_workspace(qs.select_related("app"), key=lambda s: s.name)


# --- decrypting reads -------------------------------------------------------------------------


@sensitive_variables()
def reveal(obj: Secret | CustomApi) -> str:
    """The plaintext of a secret's value or a Custom API's credential.

    Raises DecryptionFailed (naming the object, never the value) when no configured key opens
    it. There is no other way to get a value out of the vault.
    """
    sealed = obj.value if isinstance(obj, Secret) else obj.credential
    if sealed is None:
        raise DecryptionFailed(obj.described_as)
    if isinstance(sealed, str):  # assigned in this process and not saved yet
        return sealed
    return sealed.reveal(obj.described_as)


@sensitive_variables()
def resolve_value(workspace: Workspace, name: str, app: App | None = None) -> str | None:
    """The value `name` has for `app` (app secret over workspace secret), any kind; None when
    neither exists. For server-side use only (e.g. the proxy adding an integration's header):
    the value never goes to the app, so the app's workspace-secrets grant does not apply."""
    winner = effective_secrets(workspace, app, kinds=Secret.Kind.values, names=[name],
                               workspace_scope=True).get(name)
    return None if winner is None else reveal(winner)


def list_custom_apis(workspace: Workspace) -> Any:
    """Every Custom API of the workspace (both scopes), by name; credentials stay sealed."""
    return (CustomApi.objects.filter(workspace=workspace)
            .select_related("app", "created_by").order_by("name", "pk"))


def effective_custom_apis(workspace: Workspace, app: App | None = None, *,
                          workspace_scope: bool | None = None) -> dict[str, CustomApi]:
    """Variable -> the Custom API that applies to `app`: organization ones (only while the app
    has a workspace-secrets grant, see `effective_secrets`) plus the app's own, an app-scoped
    one overriding an organization one with the same variable."""
    _check_app(workspace, app)
    scope = _in_scope(app, _sees_workspace(app, workspace_scope))
    qs = CustomApi.objects.filter(scope, workspace=workspace).select_related("app")
    return app_overrides_workspace(qs, key=lambda api: api.env_var)


def environment_names(app: App) -> list[str]:
    """The variable names `environment_for_app` would return (nothing is decrypted)."""
    granted = has_workspace_access(app)
    names = set(effective_secrets(app.workspace, app, workspace_scope=granted))
    for api in effective_custom_apis(app.workspace, app, workspace_scope=granted).values():
        names.update(naming.custom_api_variables(api.env_var))
    return sorted(names)


@sensitive_variables()
def environment_for_app(app: App) -> dict[str, str]:
    """The environment an app's backend functions receive: workspace secrets (only with the
    app's grant), the app's secrets (overriding), and each Custom API in scope (organization
    ones only with the grant) as CUSTOM_API_<NAME> (the credential; user:password for basic
    auth) and CUSTOM_API_<NAME>_AUTH_HEADER (the header value, e.g. "Bearer <token>").
    System-managed secrets are not included.

    Raises DecryptionFailed if any value can't be decrypted: all or nothing.
    """
    env: dict[str, str] = {}
    granted = has_workspace_access(app)
    for name, secret in effective_secrets(app.workspace, app, workspace_scope=granted).items():
        env[name] = reveal(secret)
    for api in effective_custom_apis(app.workspace, app, workspace_scope=granted).values():
        credential = reveal(api)
        env[api.env_var] = credential
        env[api.auth_header_var] = naming.auth_header(api.auth_type, credential)[1]
    return dict(sorted(env.items()))


@sensitive_variables()
def read_environment(app: App, *, actor_label: str) -> dict[str, str]:
    """`environment_for_app`, audited per app (the variable names, never values)."""
    try:
        env = environment_for_app(app)
    except DecryptionFailed as exc:
        log.error("functions/env for app %s failed: %s", app.public_id, exc)
        audit.record(app.workspace, actor=None, actor_label=actor_label, action="env.read_failed",
                     target_type="app", target_name=app.name, target_id=app.public_id,
                     scope=f"app:{app.public_id}",
                     changes={"failed": exc.what})
        raise
    audit.record(app.workspace, actor=None, actor_label=actor_label, action="env.read",
                 target_type="app", target_name=app.name, target_id=app.public_id,
                 scope=f"app:{app.public_id}",
                 changes={"variables": list(env)})
    return env


# --- secrets: writes --------------------------------------------------------------------------


@sensitive_variables()
@transaction.atomic
def set_secret(workspace: Workspace, name: str, value: str, *, actor: Any,
               app: App | None = None, description: str | None = None,
               kind: str = Secret.Kind.USER, actor_label: str = "",
               create_only: bool = False, audited: bool = True) -> Secret:
    """Create the secret or replace its value (the version rises; the history keeps who/when).

    `description=None` keeps the current description. `kind="system"` is for values other
    features manage (names like `__integration_header_12`); they are hidden from the Secrets
    page and the admin API and not part of functions/env, but `resolve_value` finds them.
    """
    _check_app(workspace, app)
    if kind == Secret.Kind.SYSTEM:
        _valid(naming.validate_system_name, name, "name")
    elif kind == Secret.Kind.USER:
        _valid(naming.validate_secret_name, name, "name")
    else:
        raise ValueError(f"Unknown secret kind {kind!r}")
    _valid(naming.validate_secret_value, value, "value")
    if description is not None:
        description = description.strip()
        if len(description) > 300:
            raise VaultError("Keep the description to 300 characters.", "invalid",
                             "description")
    user, label = _user(actor), _label(actor, actor_label)
    now = timezone.now()
    secret = (Secret.objects.select_for_update(of=("self",)).select_related("app")
              .filter(workspace=workspace, app=app, name=name).first())
    if secret is None:
        try:
            with transaction.atomic():
                secret = Secret.objects.create(
                    workspace=workspace, app=app, name=name, kind=kind,
                    description=description or "", value=value, version=1,
                    created_by=user, updated_by=user, updated_by_label=label, updated_at=now)
        except IntegrityError:
            raise VaultError(f"{name} was just created by someone else. Reload and try again.",
                             "conflict", "name")
        action, changes = SecretVersion.Action.CREATED, {"value": "set"}
    else:
        if create_only:
            raise VaultError(f"A secret named {name} already exists {_where(app)}. Open it to "
                             "replace its value.", "duplicate", "name")
        if secret.kind != kind:
            raise VaultError(f"{name} is managed by Switchboard and can't be replaced here.",
                             "forbidden")
        changes = {"value": "changed"}
        if description is not None and description != secret.description:
            secret.description = description
            changes["description"] = "changed"
        secret.value = value
        secret.version += 1
        secret.updated_by, secret.updated_by_label, secret.updated_at = user, label, now
        secret.save()
        action = SecretVersion.Action.REPLACED
    SecretVersion.objects.create(secret=secret, version=secret.version, action=action,
                                 description=secret.description, set_by=user,
                                 set_by_label=label, created_at=now)
    if audited:  # False: the caller's own entry records it (an integration's headers)
        audit.record(workspace, actor=actor, actor_label="" if user else label,
                     action=f"secret.{'create' if action == 'created' else 'replace'}",
                     target_type="secret", target_name=name, target_id=str(secret.pk),
                     scope=secret.scope_label, changes={**changes, "version": secret.version})
    return secret


@sensitive_variables()
def create_secret(workspace: Workspace, name: str, value: str, *, actor: Any,
                  app: App | None = None, description: str = "") -> Secret:
    """Like set_secret, but refuses a name that already exists in the scope."""
    return set_secret(workspace, name, value, actor=actor, app=app, description=description,
                      create_only=True)


@transaction.atomic
def delete_secret(secret: Secret, *, actor: Any, actor_label: str = "",
                  audited: bool = True) -> None:
    locked = (Secret.objects.select_for_update(of=("self",))
              .select_related("app", "workspace").filter(pk=secret.pk).first())
    if locked is None:
        return
    user = _user(actor)
    if audited:
        audit.record(locked.workspace, actor=actor,
                     actor_label="" if user else _label(actor, actor_label),
                     action="secret.delete", target_type="secret", target_name=locked.name,
                     target_id=str(locked.pk), scope=locked.scope_label,
                     changes={"version": locked.version})
    locked.delete()


def delete_secret_named(workspace: Workspace, name: str, *, actor: Any, app: App | None = None,
                        actor_label: str = "", audited: bool = True) -> bool:
    """Delete the secret of exactly this scope if it exists. True when one was deleted."""
    secret = get_secret(workspace, name, app=app)
    if secret is None:
        return False
    delete_secret(secret, actor=actor, actor_label=actor_label, audited=audited)
    return True


# --- Custom APIs ------------------------------------------------------------------------------


def _lock_workspace(workspace: Workspace) -> None:
    """Serialise Custom API changes of one workspace (the collision check reads, then writes)."""
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()


def _variable_conflict(workspace: Workspace, env_var: str, app: App | None,
                       exclude_pk: int | None = None) -> str | None:
    """Why `env_var` can't be used in this scope, naming the other Custom API, or None.

    Same variable in the same scope: refused. Same variable organization-wide vs. app-scoped:
    allowed (the app's overrides, like secrets). Any other overlap of the two variables each one
    produces (CUSTOM_API_X_AUTH_HEADER of "X" vs. "X Auth Header") is refused wherever both
    would reach the same app.
    """
    mine = set(naming.custom_api_variables(env_var))
    qs = CustomApi.objects.filter(workspace=workspace).exclude(pk=exclude_pk)
    if app is not None:
        qs = qs.filter(_in_scope(app))
    app_pk = app.pk if app is not None else None
    for other in qs.select_related("app").order_by("pk"):
        where = f"the app “{other.app.name}”" if other.app_id else "this workspace"
        if other.env_var == env_var:
            if other.app_id == app_pk:
                return (f"The Custom API “{other.name}” in {where} already uses {env_var}. "
                        "Choose another name.")
            continue
        clash = mine & set(naming.custom_api_variables(other.env_var))
        if clash:
            return (f"{sorted(clash)[0]} is already a variable of the Custom API “{other.name}” "
                    f"in {where}. Choose another name.")
    return None


def _clean_name(name: str) -> tuple[str, str]:
    name = (name or "").strip()
    if not name:
        raise VaultError("Give the Custom API a name.", "required", "name")
    if len(name) > 100:
        raise VaultError("Keep the name to 100 characters.", "invalid", "name")
    check_name(name, what="A Custom API name", error=VaultError)
    return name, _valid(naming.custom_api_env_var, name, "name")


@sensitive_variables()
def _credential_for(auth_type: str, credential: str, username: str) -> str:
    """The value stored for a Custom API. Keys and tokens lose surrounding whitespace (a pasting
    slip); a basic-auth password is kept exactly as typed and may be empty (APIs such as
    Stripe's take `key:` with no password), the user name is required."""
    credential = credential or ""
    if auth_type == CustomApi.AuthType.BASIC:
        username = (username or "").strip()
        _valid(naming.validate_basic_username, username, "username")
        _valid(lambda v: naming.validate_credential(v, "The password"), credential, "credential")
        return f"{username}:{credential}"
    credential = credential.strip()
    if auth_type not in CustomApi.AuthType.values:
        raise VaultError("Pick an auth type: API key, bearer token or basic auth.", "invalid",
                         "auth_type")
    if not credential:
        raise VaultError("Enter the credentials (the key or token).", "required", "credential")
    _valid(naming.validate_credential, credential, "credential")
    return credential


def _custom_api_changes(api: CustomApi, fields: Iterable[str]) -> dict[str, Any]:
    return {f: getattr(api, f) for f in fields}


@sensitive_variables()
@transaction.atomic
def create_custom_api(workspace: Workspace, *, actor: Any, name: str, auth_type: str,
                      credential: str, username: str = "", domain: str = "",
                      docs_url: str = "", app: App | None = None) -> CustomApi:
    """`credential` is the key or token (api_key, bearer) or the password (basic, with
    `username`). It is stored encrypted and never returned; only functions/env gives it out."""
    _check_app(workspace, app)
    name, env_var = _clean_name(name)
    stored = _credential_for(auth_type, credential, username)
    domain = _valid(naming.normalize_domain, domain, "domain")
    docs_url = _valid(naming.normalize_docs_url, docs_url, "docs_url")
    _lock_workspace(workspace)
    conflict = _variable_conflict(workspace, env_var, app)
    if conflict:
        raise VaultError(conflict, "duplicate", "name")
    api = CustomApi.objects.create(workspace=workspace, app=app, name=name, env_var=env_var,
                                   auth_type=auth_type, credential=stored, domain=domain,
                                   docs_url=docs_url, created_by=_user(actor))
    audit.record(workspace, actor=actor, action="custom_api.create", target_type="custom_api",
                 target_name=name, target_id=api.public_id, scope=api.scope_label,
                 changes={**_custom_api_changes(api, ["env_var", "auth_type", "domain",
                                                      "docs_url"]), "credentials": "set"})
    return api


@transaction.atomic
def update_custom_api(api: CustomApi, *, actor: Any, name: str | None = None,
                      domain: str | None = None, docs_url: str | None = None,
                      app: Any = _UNSET) -> CustomApi:
    """Change name, domain, documentation URL or scope (`app=None`: organization). Credentials
    can't be changed: delete and recreate (same name -> same variable)."""
    workspace = api.workspace
    _lock_workspace(workspace)
    api = (CustomApi.objects.select_for_update(of=("self",)).select_related("app")
           .get(pk=api.pk))
    before = _custom_api_changes(api, ["name", "env_var", "domain", "docs_url", "scope_label"])
    if name is not None:
        api.name, api.env_var = _clean_name(name)
    if domain is not None:
        api.domain = _valid(naming.normalize_domain, domain, "domain")
    if docs_url is not None:
        api.docs_url = _valid(naming.normalize_docs_url, docs_url, "docs_url")
    if app is not _UNSET:
        _check_app(workspace, app)
        api.app = app
    conflict = _variable_conflict(workspace, api.env_var, api.app, exclude_pk=api.pk)
    if conflict:
        raise VaultError(conflict, "duplicate", "name")
    after = _custom_api_changes(api, before)
    changes = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    if changes:
        api.save()
        audit.record(workspace, actor=actor, action="custom_api.update",
                     target_type="custom_api", target_name=api.name, target_id=api.public_id,
                     scope=api.scope_label, changes=changes)
    return api


@transaction.atomic
def delete_custom_api(api: CustomApi, *, actor: Any) -> None:
    audit.record(api.workspace, actor=actor, action="custom_api.delete",
                 target_type="custom_api", target_name=api.name, target_id=api.public_id,
                 scope=api.scope_label, changes={"env_var": api.env_var})
    api.delete()
