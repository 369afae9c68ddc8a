"""Bind every stored sensitive header value to the origin of its integration's base URL (the
server it was entered for), so that moving the base URL can no longer carry it elsewhere."""

from urllib.parse import urlsplit

import idna
from django.db import migrations, models

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url):
    # A frozen copy of integrations.services.base_url_origin (migrations don't import app code).
    parts = urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = DEFAULT_PORTS.get(scheme, 0)
    if host and not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            pass
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def bind_existing(apps, schema_editor):
    IntegrationHeader = apps.get_model("integrations", "IntegrationHeader")
    rows = IntegrationHeader.objects.filter(sensitive=True, origin="").select_related(
        "integration")
    for header in rows.iterator():
        header.origin = _origin(header.integration.base_url)
        header.save(update_fields=["origin"])


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0002_import_progress_and_diff'),
    ]

    operations = [
        migrations.AddField(
            model_name='integrationheader',
            name='origin',
            field=models.CharField(blank=True, help_text='Sensitive headers: the origin (scheme://host:port) of the base URL the value was entered for; the value is never sent anywhere else.', max_length=300),
        ),
        migrations.RunPython(bind_existing, migrations.RunPython.noop),
    ]
