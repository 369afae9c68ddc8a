from django.db import migrations, models

import workspaces.models


class Migration(migrations.Migration):

    dependencies = [
        ('workspaces', '0003_membership_history_pending_invites_outbox_links'),
    ]

    operations = [
        migrations.AlterField(
            model_name='invitation',
            name='public_id',
            field=models.CharField(default=workspaces.models.new_public_id, editable=False, max_length=24, unique=True),
        ),
        migrations.AddConstraint(
            model_name='invitation',
            constraint=models.UniqueConstraint(condition=models.Q(('accepted_at', None), ('revoked_at', None)), fields=('workspace', 'email'), name='one_pending_invitation_per_email'),
        ),
    ]
