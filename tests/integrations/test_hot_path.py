"""The lean hot path (issue 11 item 4): cached lookups that a revocation or an edit still
stops at once in this process and within SDK_LOOKUP_CACHE_SECONDS elsewhere; the one
call-log writer (integrations.calllog), which writes after the response, in one INSERT for
many calls, and never loses a billed call without trace."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import calllog, runtime
from integrations.models import CallLog, WorkspaceIntegration
from tests.integrations import proxy_support
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import services, tokens
from workspaces.models import AppServiceToken, CreditEntry, RevokedAppUserToken

_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db

OP = "get:/pets/{petId}"


@pytest.fixture
def pets(personas: Any, upstream: Any, egress_open: Any) -> WorkspaceIntegration:
    return make_integration(personas.workspace, upstream.url("/v1"))


def call(client: Any, app: Any, slug: str = "pets") -> Any:
    return client.post(call_url(app.public_id, slug, OP), {"path_params": {"petId": 1}},
                       format="json")


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """This process's clock moves on (the caches' deadlines are on time.monotonic)."""
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + seconds)


def service_client(personas: Any) -> tuple[Any, AppServiceToken]:
    from rest_framework.test import APIClient

    token, raw = services.create_service_token(personas.app, actor=personas.owner, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, token


# --------------------------------------------------------------------------- token cache


def test_a_revoked_service_token_is_refused_at_once_by_this_process(personas, pets, upstream):
    client, token = service_client(personas)
    assert call(client, personas.app).status_code == 200  # cached now
    services.revoke_service_token(token, actor=personas.owner)
    r = call(client, personas.app)
    assert r.status_code == 401 and r.json()["detail"] == "Invalid or revoked service token."
    assert len(upstream.seen) == 1


def test_a_revocation_by_another_process_is_refused_within_the_cache_seconds(
        personas, pets, upstream, settings, monkeypatch):
    settings.SDK_LOOKUP_CACHE_SECONDS = 5
    client, token = service_client(personas)
    assert call(client, personas.app).status_code == 200
    # another process revokes it: this one gets no signal
    AppServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    later(monkeypatch, 5.1)
    r = call(client, personas.app)
    assert r.status_code == 401 and len(upstream.seen) == 1
    assert CreditEntry.objects.filter(amount__lt=0).count() == 1


def test_without_the_cache_a_revocation_elsewhere_is_refused_at_once(personas, pets, upstream,
                                                                      settings):
    settings.SDK_LOOKUP_CACHE_SECONDS = 0
    client, token = service_client(personas)
    assert call(client, personas.app).status_code == 200
    AppServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert call(client, personas.app).status_code == 401


def test_a_wrong_secret_with_a_cached_prefix_is_refused(personas, pets):
    """Only the row is cached: the digest is checked on every call."""
    client, token = service_client(personas)
    assert call(client, personas.app).status_code == 200
    raw = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert call(client, personas.app).status_code == 401


def test_deleting_the_app_stops_its_cached_token_at_once(personas, pets):
    client, _ = service_client(personas)
    assert call(client, personas.app).status_code == 200
    services.delete_app(personas.app, actor=personas.owner)
    assert call(client, personas.app).status_code == 401


# --------------------------------------------------------------------------- lookup cache


def test_an_integration_deleted_here_is_gone_at_once(personas, pets, sdk, upstream):
    client = sdk(personas.app)
    assert call(client, personas.app).status_code == 200
    pets.delete()
    r = call(client, personas.app)
    assert r.status_code == 404 and r.json()["code"] == "integration_not_found"


def test_an_integration_deleted_elsewhere_is_a_404_not_a_500(personas, pets, sdk, upstream):
    """A lookup cached in this process may name a row another process deleted: the call is
    answered 404, never sent, never charged."""
    assert runtime.lookup(personas.workspace.pk, "pets") is not None  # cached
    runtime.invalidate(pets.pk)  # the config is not (yet) built in this process
    WorkspaceIntegration.objects.filter(pk=pets.pk)._raw_delete(connection.alias)
    r = call(sdk(personas.app), personas.app)
    assert r.status_code == 404 and r.json()["code"] == "integration_not_found"
    assert upstream.seen == [] and not CreditEntry.objects.filter(amount__lt=0).exists()


def test_an_edit_through_the_model_applies_at_the_next_call(personas, pets, sdk, upstream):
    client = sdk(personas.app)
    assert call(client, personas.app).status_code == 200
    pets.base_url = upstream.url("/v2")
    pets.config_version += 1
    pets.save(update_fields=["base_url", "config_version", "updated_at"])
    assert call(client, personas.app).status_code == 200
    assert upstream.seen[-1].path == "/v2/pets/1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_warm_call_runs_two_sql_statements(personas, pets, sdk, settings):
    """With the token and the integration cached: the ledger's charge (one statement) and the
    call log row (written after the response)."""
    settings.SDK_LOOKUP_CACHE_SECONDS = 5  # the cache is off by default; this is it switched on
    client = sdk(personas.app)
    for _ in range(2):  # the first one also writes the token's last_used_at (once a minute)
        assert call(client, personas.app).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert call(client, personas.app).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 2, sql
    assert "workspaces_creditaccount" in sql[0] and "integrations_calllog" in sql[1]


# --------------------------------------------------------------------------- call log writer


def _signal(signal: Any) -> None:
    """Send a request signal as the test client does (the test's own database connection
    stays open)."""
    signal.disconnect(close_old_connections)
    try:
        signal.send(sender=None)
    finally:
        signal.connect(close_old_connections)


def request_begins() -> None:
    _signal(request_started)


def request_ends() -> None:
    """What a server does once the response is out."""
    _signal(request_finished)


def row(personas: Any, request_id: str, **fields: Any) -> CallLog:
    values = {"workspace_id": personas.workspace.pk, "app": personas.app,
              "integration_slug": "pets", "operation": OP, "caller_kind": "service",
              "phase": "responded", "status_code": 200, "response_status": 200, "credits": 1}
    return CallLog(request_id=request_id, **{**values, **fields})


def test_outside_a_request_a_row_is_written_at_once(personas):
    calllog.write(row(personas, "req_now"))
    assert CallLog.objects.filter(request_id="req_now").exists()


def test_a_row_from_values_is_the_row_the_model_would_write(personas, pets):
    before = timezone.now()
    calllog.write(row(personas, "req_model", integration=pets, latency_ms=7, sandbox=True))
    calllog.write_values(request_id="req_values", workspace_id=personas.workspace.pk,
                         app_id=personas.app.pk, integration_id=pets.pk,
                         integration_slug="pets", operation=OP, caller_kind="service",
                         phase="responded", status_code=200, response_status=200, credits=1,
                         latency_ms=7, sandbox=True)
    model, values = (CallLog.objects.filter(request_id=r).values().get()
                     for r in ("req_model", "req_values"))
    for one in (model, values):
        assert one.pop("id") and one.pop("request_id")
        assert before <= one.pop("created_at") <= timezone.now()
    assert values == model
    assert values["caller_name"] == "" and values["error_code"] == ""  # the fields' defaults


def test_rows_of_a_request_are_written_when_it_finishes_in_one_insert(personas):
    request_begins()
    try:
        for n in range(3):
            calllog.write(row(personas, f"req_batch_{n}"))
        assert not CallLog.objects.filter(request_id__startswith="req_batch_").exists()
    finally:
        with CaptureQueriesContext(connection) as queries:
            request_ends()
    assert CallLog.objects.filter(request_id__startswith="req_batch_").count() == 3
    inserts = [q for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(inserts) == 1


@pytest.mark.django_db(transaction=True)  # the flusher writes on its own connection
def test_with_a_flush_delay_the_rows_of_several_requests_share_one_insert(personas, settings):
    settings.PROXY_LOG_FLUSH_SECONDS = 0.3
    inserts: list[str] = []
    real_insert = calllog._insert

    def counted(rows: Any) -> None:
        inserts.append(len(rows))
        real_insert(rows)

    calllog._insert = counted  # type: ignore[assignment]
    try:
        for n in range(3):  # three requests end, one after the other
            request_begins()
            calllog.write(row(personas, f"req_later_{n}"))
            request_ends()
        assert not CallLog.objects.filter(request_id__startswith="req_later_").exists()
        deadline = time.monotonic() + 10
        while (CallLog.objects.filter(request_id__startswith="req_later_").count() < 3
               and time.monotonic() < deadline):
            time.sleep(0.05)
    finally:
        calllog._insert = real_insert  # type: ignore[assignment]
    assert CallLog.objects.filter(request_id__startswith="req_later_").count() == 3
    assert inserts == [3]


@pytest.mark.postgres  # SQLite does not enforce a column's length: the row would not be bad
def test_one_bad_row_costs_only_itself(personas, caplog):
    request_begins()
    calllog.write(row(personas, "req_good_1"))
    calllog.write(row(personas, "req_" + "x" * 60))  # longer than the column: refused
    calllog.write(row(personas, "req_good_2"))
    with caplog.at_level(logging.ERROR, logger="integrations.calllog"):
        request_ends()
    assert set(CallLog.objects.values_list("request_id", flat=True)) == {"req_good_1",
                                                                          "req_good_2"}
    assert "req_xxxx" in caplog.text and "could not be written" in caplog.text


def test_a_billed_call_whose_log_row_is_lost_keeps_its_trace_in_the_ledger(
        personas, pets, sdk, monkeypatch, caplog):
    def broken(rows: Any) -> None:
        raise DatabaseError("the database went away")

    monkeypatch.setattr(calllog, "_insert", broken)
    with caplog.at_level(logging.ERROR, logger="integrations.calllog"):
        r = call(sdk(personas.app), personas.app)
    assert r.status_code == 200 and r.json()["success"] is True
    request_id = r["X-Request-Id"]
    assert not CallLog.objects.exists()
    entry = CreditEntry.objects.get(amount__lt=0)
    assert entry.idempotency_key == f"proxy:{request_id}"
    assert "pets" in entry.reason and OP in entry.reason
    assert request_id in caplog.text


def test_the_proxy_and_connectors_write_through_the_one_writer():
    import inspect

    from connectors import calls
    from integrations import proxy

    for module in (proxy, calls):
        source = inspect.getsource(module)
        assert "calllog.write_values(" in source and "CallLog.objects.create" not in source
        assert "INSERT INTO" not in source


def test_tokens_cache_is_emptied_by_forget():
    tokens._CACHE[("x",)] = (time.monotonic() + 60, ())
    tokens.forget_cached_tokens()
    assert tokens._CACHE == {}


# --------------------------------------------------------------------------- app-user tokens


def app_user_client(personas: Any, user_id: str = "user-1") -> tuple[Any, str]:
    from rest_framework.test import APIClient

    raw = services.mint_app_user_token(personas.app, user_id).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, raw


def test_app_user_token_lookups_are_cached_and_a_revocation_applies_at_once(
        personas, pets, upstream, settings):
    settings.SDK_LOOKUP_CACHE_SECONDS = 5  # the cache is off by default; this is it switched on
    client, raw = app_user_client(personas)
    assert call(client, personas.app).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert call(client, personas.app).status_code == 200
    assert not [q for q in queries.captured_queries
                if "workspaces_appuser" in q["sql"] or "revokedappusertoken" in q["sql"]]
    services.revoke_app_user_token(personas.app, raw)
    r = call(client, personas.app)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert len(upstream.seen) == 2


def test_rotating_the_app_key_stops_cached_app_user_tokens_at_once(personas, pets):
    client, _ = app_user_client(personas)
    assert call(client, personas.app).status_code == 200
    services.revoke_all_app_user_tokens(personas.app, actor=personas.owner)
    assert call(client, personas.app).status_code == 401


def test_an_app_user_revocation_elsewhere_is_refused_within_the_cache_seconds(
        personas, pets, settings, monkeypatch):
    settings.SDK_LOOKUP_CACHE_SECONDS = 5
    client, raw = app_user_client(personas)
    assert call(client, personas.app).status_code == 200
    claims = tokens.jwt.decode(raw, options={"verify_signature": False})
    # another process revokes it (no signal here: a bulk insert)
    RevokedAppUserToken.objects.bulk_create([RevokedAppUserToken(
        jti=claims["jti"], app=personas.app, expires_at=timezone.now())])
    later(monkeypatch, 5.1)
    assert call(client, personas.app).status_code == 401


# --------------------------------------------------------------------------- the shared epoch

_REDIS = __import__("os").environ.get("CELERY_BROKER_URL", "")


@pytest.fixture
def shared_epoch(settings: Any) -> Any:
    """The production shape: the default cache is Redis, so the lookup caches are on and every
    change is published through the shared epoch (workspaces.sdk_cache)."""
    if not _REDIS.startswith("redis://"):
        pytest.skip("needs Redis (CELERY_BROKER_URL)")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": _REDIS, "KEY_PREFIX": "sdk-epoch-test"}}
    settings.SDK_LOOKUP_CACHE_SECONDS = 60
    from django.core.cache import cache

    from workspaces import sdk_cache

    cache.clear()
    yield sdk_cache
    cache.clear()


def another_process_changed_a_row() -> None:
    """What the commit of a change in another process does here: only the shared epoch moves
    (this process gets no signal)."""
    from workspaces import sdk_cache

    sdk_cache._bump_now()


def test_with_redis_a_warm_call_reads_no_lookup_rows(personas, pets, upstream, shared_epoch):
    client, token = service_client(personas)
    for _ in range(2):
        assert call(client, personas.app).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert call(client, personas.app).status_code == 200
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "workspaces_appservicetoken" not in tables
    assert "integrations_workspaceintegration" not in tables


def test_a_revocation_by_another_process_is_refused_by_the_next_call(
        personas, pets, upstream, shared_epoch):
    client, token = service_client(personas)
    for _ in range(2):  # the first one also writes the token's last_used_at (and re-reads it)
        assert call(client, personas.app).status_code == 200  # cached here
    AppServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    # Until the other process's commit publishes it, this process serves its cached row (the
    # cache is really used)...
    assert call(client, personas.app).status_code == 200
    another_process_changed_a_row()
    # ...and the very next call after it is refused, no clock moved.
    r = call(client, personas.app)
    assert r.status_code == 401 and r.json()["detail"] == "Invalid or revoked service token."
    assert len(upstream.seen) == 3


def test_an_edit_by_another_process_applies_at_the_next_call(personas, pets, sdk, upstream,
                                                           shared_epoch):
    client = sdk(personas.app)
    assert call(client, personas.app).status_code == 200
    WorkspaceIntegration.objects.filter(pk=pets.pk).update(
        base_url=upstream.url("/v2"), config_version=pets.config_version + 1)
    another_process_changed_a_row()
    assert call(client, personas.app).status_code == 200
    assert upstream.seen[-1].path == "/v2/pets/1"
    # the attempt on the stale row (before the gate saw the epoch) was never sent to /v1,
    # logged or charged: one row and one charge per answer
    assert [s.path for s in upstream.seen] == ["/v1/pets/1", "/v2/pets/1"]
    assert CallLog.objects.filter(app=personas.app).count() == 2
    assert CreditEntry.objects.filter(amount__lt=0).count() == 2


def test_a_change_made_here_is_published_when_it_commits(personas, pets, shared_epoch,
                                                         django_capture_on_commit_callbacks):
    from django.core.cache import cache

    client, token = service_client(personas)
    before = cache.get(shared_epoch.EPOCH_KEY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.revoke_service_token(token, actor=personas.owner)
    assert cache.get(shared_epoch.EPOCH_KEY) == before  # not before the commit
    for callback in callbacks:
        callback()
    assert int(cache.get(shared_epoch.EPOCH_KEY) or 0) > int(before or 0)


def test_with_redis_down_every_lookup_reads_the_database(personas, pets, upstream,
                                                        shared_epoch, monkeypatch):
    client, token = service_client(personas)
    for _ in range(2):
        assert call(client, personas.app).status_code == 200

    class Down:
        def get(self, *_: Any) -> None:
            raise ConnectionError("Redis is down")

        incr = get

    monkeypatch.setattr(shared_epoch, "redis_client", lambda: Down())
    AppServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert call(client, personas.app).status_code == 401  # no epoch: the row is read again


def test_outside_an_sdk_request_nothing_is_cached(personas, pets, shared_epoch):
    shared_epoch._state.trusted = False
    assert shared_epoch.seconds() == 0
    assert runtime.lookup(personas.workspace.pk, "pets") is not None
    WorkspaceIntegration.objects.filter(pk=pets.pk).update(slug="renamed")
    assert runtime.lookup(personas.workspace.pk, "pets") is None


def test_with_redis_the_rate_limit_counts_only_calls_that_got_to_the_gate(
        personas, pets, sdk, upstream, shared_epoch, settings):
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 2
    client = sdk(personas.app)
    for _ in range(3):  # refused before the gate: not counted
        assert call(client, personas.app, slug="nope").status_code == 404
    assert [call(client, personas.app).status_code for _ in range(2)] == [200, 200]
    r = call(client, personas.app)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r["Retry-After"]) >= 1 and len(upstream.seen) == 2
    assert CreditEntry.objects.filter(amount__lt=0).count() == 2


# ------------------------------------------------ the epoch read in the gate's round trip


@pytest.fixture
def redis_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the Redis commands this process sends (pipelines aside)."""
    import redis

    sent: list[str] = []
    original = redis.Redis.execute_command

    def counted(self: Any, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).upper())
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    return sent


def test_a_warm_call_reads_the_epoch_in_the_gates_round_trip(personas, pets, upstream,
                                                            shared_epoch, redis_commands):
    client, _ = service_client(personas)
    for _ in range(2):
        assert call(client, personas.app).status_code == 200
    redis_commands.clear()
    assert call(client, personas.app).status_code == 200
    # two scripts: the gate (epoch, rate limit, bulkheads) and the lease's release; no GET
    assert redis_commands == ["EVALSHA", "EVALSHA"]


def test_a_stale_attempt_sends_charges_counts_and_logs_nothing(personas, pets, upstream,
                                                               shared_epoch, settings):
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 3
    client, token = service_client(personas)
    for _ in range(2):
        assert call(client, personas.app).status_code == 200
    AppServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    another_process_changed_a_row()
    r = call(client, personas.app)
    assert r.status_code == 401 and r.json()["detail"] == "Invalid or revoked service token."
    assert len(upstream.seen) == 2
    assert CreditEntry.objects.filter(amount__lt=0).count() == 2
    assert CallLog.objects.filter(app=personas.app).count() == 2
    # the refused attempt was not counted by the rate limit: a new token still has 1 call left
    other, _ = service_client(personas)
    assert call(other, personas.app).status_code == 200
    assert call(other, personas.app).status_code == 429


def test_a_refusal_on_stale_rows_is_answered_from_fresh_ones(personas, pets, sdk, upstream,
                                                            shared_epoch):
    client = sdk(personas.app)
    assert call(client, personas.app).status_code == 200
    assert call(client, personas.app, slug="renamed").status_code == 404
    # another process renames it: this process's cache still has "pets" and no "renamed"
    WorkspaceIntegration.objects.filter(pk=pets.pk).update(slug="renamed")
    another_process_changed_a_row()
    assert call(client, personas.app, slug="renamed").status_code == 200
    assert call(client, personas.app, slug="pets").status_code == 404
    assert CallLog.objects.filter(app=personas.app).count() == 4  # one per answer, no more


def test_an_app_user_token_of_a_key_rotated_elsewhere_is_accepted_at_once(
        personas, pets, upstream, shared_epoch):
    from workspaces.models import App

    old, _ = app_user_client(personas)
    assert call(old, personas.app).status_code == 200  # the app (and its key) cached here
    # another process rotates the app's key (no signal here) and mints a token with the new one
    App.objects.filter(pk=personas.app.pk).update(jwt_salt="f" * 64)
    another_process_changed_a_row()
    personas.app.refresh_from_db()
    new, _ = app_user_client(personas)
    r = call(new, personas.app)  # refused by the cached key first; the epoch says look again
    assert r.status_code == 200, r.content
    assert call(old, personas.app).status_code == 401


def test_with_redis_down_mid_request_the_call_reads_the_database(
        personas, pets, upstream, shared_epoch, monkeypatch):
    from integrations import bulkhead

    client, token = service_client(personas)
    for _ in range(2):
        assert call(client, personas.app).status_code == 200
    AppServiceToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    def down(*_: Any, **__: Any) -> None:
        raise ConnectionError("Redis is down")

    # the gate's script fails; the rows it would have confirmed are read again
    monkeypatch.setattr(bulkhead, "_ADMIT_SCRIPT", down)
    assert call(client, personas.app).status_code == 401
    assert len(upstream.seen) == 2


def test_a_personal_token_is_refused_with_403_when_the_epoch_moved(personas, pets, upstream,
                                                                  shared_epoch):
    from rest_framework.test import APIClient

    client, _ = service_client(personas)
    assert call(client, personas.app).status_code == 200  # this process has seen the epoch
    _, raw = services.create_personal_token(actor=personas.owner, name="mine")
    another_process_changed_a_row()
    personal = APIClient()
    personal.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    r = call(personal, personas.app)  # refused, then authenticated again after the epoch
    assert r.status_code == 403 and "personal access token" in r.json()["detail"]
