"""Shared counters of the lookup budget and the API throttles (tracking/budget.py) and the
postal-code lockout per shipment (tracking/site/unlock.py); the Administrator role gets the
lockouts' permissions (it takes all of tracking)."""

import importlib

import django.db.models.deletion
from django.db import migrations, models

# The same re-sync of the staff roles as when partner scopes came.
roles_resync = importlib.import_module("tracking.migrations.0008_partner_scopes_subscription_email_index").roles_resync


class Migration(migrations.Migration):

    dependencies = [
        ('tracking', '0009_phone_updates'),
    ]

    operations = [
        migrations.CreateModel(
            name='RateCounter',
            fields=[
                ('key', models.CharField(max_length=150, primary_key=True, serialize=False)),
                ('points', models.PositiveBigIntegerField(default=0)),
                ('expires_at', models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.CreateModel(
            name='UnlockGuard',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('failures', models.PositiveIntegerField(default=0, help_text='Wrong codes since the last lockout or success.')),
                ('lockouts', models.PositiveIntegerField(default=0, help_text='Lockouts in a row; each one lasts twice as long.')),
                ('locked_until', models.DateTimeField(blank=True, null=True)),
                ('last_failure_at', models.DateTimeField(blank=True, null=True)),
                ('shipment', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='unlock_guard', to='tracking.shipment')),
            ],
            options={
                'verbose_name': 'postal-code lockout',
                'verbose_name_plural': 'postal-code lockouts',
            },
        ),
        migrations.RunPython(roles_resync, migrations.RunPython.noop),
    ]
