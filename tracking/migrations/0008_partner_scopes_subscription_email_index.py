"""Partner scopes (what a partner may write beyond its own shipments), with their history; an
index for the daily cap of confirmation e-mails per address."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def roles_resync(apps, schema_editor):
    """Give the staff roles the new model's permissions (the Administrator takes all of tracking)."""
    from tracking.roles import roles_sync

    app_config = apps.get_app_config("tracking")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    roles_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):

    dependencies = [
        ('tracking', '0007_changes_feed'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalPartnerScope',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('kind', models.CharField(choices=[('hub', 'Hub: events scanned at a facility'), ('carrier', 'Carrier: every shipment of a shipper')], max_length=10)),
                ('note', models.CharField(blank=True, help_text='Why the scope was granted.', max_length=200)),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('facility', models.ForeignKey(blank=True, db_constraint=False, help_text='For a hub scope.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tracking.facility')),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('partner', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tracking.partner')),
                ('shipper', models.ForeignKey(blank=True, db_constraint=False, help_text='For a carrier scope: the partner whose shipments it may write.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tracking.partner')),
            ],
            options={
                'verbose_name': 'historical partner scope',
                'verbose_name_plural': 'historical partner scopes',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='PartnerScope',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('hub', 'Hub: events scanned at a facility'), ('carrier', 'Carrier: every shipment of a shipper')], max_length=10)),
                ('note', models.CharField(blank=True, help_text='Why the scope was granted.', max_length=200)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('facility', models.ForeignKey(blank=True, help_text='For a hub scope.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tracking.facility')),
                ('partner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='scopes', to='tracking.partner')),
                ('shipper', models.ForeignKey(blank=True, help_text='For a carrier scope: the partner whose shipments it may write.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tracking.partner')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('partner', 'kind', 'facility', 'shipper'), name='partner_scope_once')],
            },
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["email_hash"], name="subscription_email_hash"),
        ),
        migrations.RunPython(roles_resync, migrations.RunPython.noop),
    ]
