"""Apps receive workspace secrets and organization Custom APIs only with a grant.

Existing apps whose creator is an admin or owner of the app's workspace today are granted
(audited, reason "migration"): they keep what they had. Apps created by plain members, or whose
creator has left or was deleted, are not: from now on they get only their own app secrets and
app-scope Custom APIs until an admin grants them on the app's page.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


ADMIN_ROLES = ("admin", "owner")


def grant_existing_admin_apps(apps, schema_editor):  # type: ignore[no-untyped-def]
    App = apps.get_model("workspaces", "App")
    Membership = apps.get_model("workspaces", "Membership")
    AuditEntry = apps.get_model("workspaces", "AuditEntry")
    AppSecretAccess = apps.get_model("secrets_vault", "AppSecretAccess")
    admins = set(Membership.objects.filter(role__in=ADMIN_ROLES)
                 .values_list("workspace_id", "user_id"))
    for app in App.objects.filter(created_by__isnull=False).iterator():
        if (app.workspace_id, app.created_by_id) not in admins:
            continue
        if AppSecretAccess.objects.filter(app_id=app.pk).exists():
            continue
        AppSecretAccess.objects.create(app_id=app.pk, granted_by_id=app.created_by_id,
                                       granted_by_label="migration", reason="migration")
        AuditEntry.objects.create(
            workspace_id=app.workspace_id, actor=None, actor_label="migration",
            action="app.workspace_secrets.grant", target_type="app", target_name=app.name[:200],
            scope=f"app:{app.public_id}", changes={"reason": "migration"})


class Migration(migrations.Migration):

    dependencies = [
        ('secrets_vault', '0001_initial'),
        ('workspaces', '0002_audit'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AppSecretAccess',
            fields=[
                ('app', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='workspace_secret_access', serialize=False, to='workspaces.app')),
                ('granted_by_label', models.CharField(blank=True, max_length=200)),
                ('granted_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('reason', models.CharField(choices=[('created_by_admin', 'App created by an admin or owner'), ('granted', 'Granted by an admin'), ('migration', 'Existing app created by a current admin or owner')], default='granted', max_length=20)),
                ('granted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'app access to workspace secrets',
                'verbose_name_plural': 'app access to workspace secrets',
            },
        ),
        migrations.RunPython(grant_existing_admin_apps, migrations.RunPython.noop),
    ]
