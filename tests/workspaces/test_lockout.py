"""Sign-in lockout behind the reverse proxy the README prescribes (security issue 12, item 4).

Every request reaches Django from the proxy (REMOTE_ADDR = the proxy), which appends the
address it saw to X-Forwarded-For. The lockout must key on username + the real client address,
so an attacker who guesses a victim's password five times locks only themselves out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from config.client_ip import client_ip_settings
from tests.factories import PASSWORD
from tests.test_deploy import PROD, ROOT

PROXY = "10.0.0.2"  # the reverse proxy, as Django sees it
ATTACKER = "81.2.69.160"
VICTIM_IP = "2.125.160.216"


@pytest.fixture
def behind_one_proxy(settings):  # type: ignore[no-untyped-def]
    """The settings production derives from TRUSTED_PROXY_COUNT=1 (its default)."""
    for name, value in client_ip_settings(1).items():
        setattr(settings, name, value)


def sign_in(client, client_ip: str, password: str, *, xff: str | None = None):  # type: ignore[no-untyped-def]
    """A sign-in as the proxy forwards it: X-Forwarded-For ends with the address it saw."""
    return client.post("/login/", {"username": "owner@example.com", "password": password},
                       REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=xff or client_ip)


def test_an_attacker_cannot_lock_the_victim_out_for_everyone(client, personas, behind_one_proxy):
    for _ in range(6):
        sign_in(client, ATTACKER, "wrong")
    # The attacker is locked out, even with the right password...
    locked = sign_in(client, ATTACKER, PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    # ...but the victim, from their own address through the same proxy, still signs in.
    client.cookies.clear()
    victim = sign_in(client, VICTIM_IP, PASSWORD)
    assert victim.status_code == 302, victim.content[:300]
    assert client.session["_auth_user_id"] == str(personas.owner.pk)


def test_a_lockout_is_per_account_and_address(client, personas, behind_one_proxy):
    """Failures for one account don't lock another account from the same address."""
    for _ in range(5):
        sign_in(client, ATTACKER, "wrong")
    other = client.post("/login/", {"username": "admin@example.com", "password": PASSWORD},
                        REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert other.status_code == 302


def test_a_spoofed_forwarded_for_prefix_does_not_escape_the_lockout(client, personas,
                                                                    behind_one_proxy):
    """The attacker sends their own X-Forwarded-For; the proxy appends the real address. With
    one proxy the rightmost entry is the one used, so rotating the prefix changes nothing."""
    for n in range(6):
        sign_in(client, ATTACKER, "wrong", xff=f"198.51.100.{n}, 8.8.{n}.{n}, {ATTACKER}")
    response = sign_in(client, ATTACKER, PASSWORD, xff=f"{VICTIM_IP}, {ATTACKER}")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Nor can the attacker lock the victim's address by naming it in the prefix.
    client.cookies.clear()
    assert sign_in(client, VICTIM_IP, PASSWORD).status_code == 302


def test_without_a_proxy_the_connecting_address_is_used(client, personas):
    """`make run` / the default: no proxy, X-Forwarded-For is ignored (anyone could set it)."""
    for n in range(5):
        client.post("/login/", {"username": "owner@example.com", "password": "wrong"},
                    REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"8.8.8.{n}")
    response = client.post("/login/", {"username": "owner@example.com", "password": PASSWORD},
                           REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="9.9.9.9")
    assert response.status_code == 429
    other = client.post("/login/", {"username": "owner@example.com", "password": PASSWORD},
                        REMOTE_ADDR=VICTIM_IP)
    assert other.status_code == 302


def _production_axes_settings(**extra: str) -> dict:
    code = ("from django.conf import settings as s; import json; print(json.dumps({k: getattr(s, k)"
            " for k in ('AXES_IPWARE_PROXY_COUNT', 'AXES_IPWARE_META_PRECEDENCE_ORDER',"
            " 'AXES_LOCKOUT_PARAMETERS', 'IPWARE_STRICT', 'AXES_IPWARE_PROXY_ORDER',"
            " 'AXES_IPWARE_PROXY_TRUSTED_IPS')}))")
    drop = ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "TRUSTED_PROXY_COUNT")
    env = {**{k: v for k, v in os.environ.items() if k not in drop}, **PROD, **extra}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_reads_the_proxy_count_from_the_environment():
    default = _production_axes_settings()
    assert default == {**_json(client_ip_settings(1)),
                       "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]]}
    two = _production_axes_settings(TRUSTED_PROXY_COUNT="2")
    assert two["AXES_IPWARE_PROXY_COUNT"] == 1  # the hop before the last proxy's own entry
    none = _production_axes_settings(TRUSTED_PROXY_COUNT="0")
    assert none["AXES_IPWARE_META_PRECEDENCE_ORDER"] == ["REMOTE_ADDR"]


def _json(value: dict) -> dict:
    return json.loads(json.dumps(value))
