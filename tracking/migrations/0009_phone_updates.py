"""WhatsApp and SMS updates: phone subscriptions with consent, opt-outs, messages and receipts;
customer service may add a subscription and read the messages."""

import django.db.models.deletion
import django.utils.timezone
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def roles_resync(apps, schema_editor):
    """Give the staff roles the new models' permissions (the Administrator takes all of tracking)."""
    from tracking.roles import roles_sync

    app_config = apps.get_app_config("tracking")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    roles_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0008_partner_scopes_subscription_email_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="PhoneOptOut",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phone_hash", models.CharField(editable=False, max_length=64, unique=True)),
                ("phone_masked", models.CharField(editable=False, max_length=32)),
                ("channel", models.CharField(choices=[("whatsapp", "WhatsApp"), ("sms", "SMS")], max_length=10)),
                ("keyword", models.CharField(max_length=20)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="PhoneSubscription",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phone_encrypted", models.TextField(editable=False)),
                ("phone_hash", models.CharField(editable=False, max_length=64)),
                ("phone_masked", models.CharField(editable=False, max_length=32)),
                ("country", models.CharField(help_text="The number's country (+52 MX, +1 US).", max_length=2)),
                (
                    "channel",
                    models.CharField(
                        choices=[("whatsapp", "WhatsApp"), ("sms", "SMS")], default="whatsapp", max_length=10
                    ),
                ),
                (
                    "first_name",
                    models.CharField(blank=True, help_text="The only personal data in a message.", max_length=50),
                ),
                (
                    "topics",
                    models.JSONField(default=list, help_text="Milestones wanted, and 'exception' for any exception."),
                ),
                ("language", models.CharField(choices=[("es", "Español"), ("en", "English")], max_length=8)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for the code"),
                            ("active", "Active"),
                            ("unsubscribed", "Unsubscribed"),
                        ],
                        default="pending",
                        max_length=12,
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("api", "Shipper, partner API"),
                            ("import", "Shipper, CSV import"),
                            ("admin", "Staff"),
                            ("page", "Tracking page (code confirmed)"),
                        ],
                        max_length=8,
                    ),
                ),
                (
                    "consent_source",
                    models.CharField(
                        help_text="Where the consent was collected (the shipper's checkout, the page...).",
                        max_length=200,
                    ),
                ),
                ("consent_at", models.DateTimeField(blank=True, help_text="When the consent was given.", null=True)),
                ("code_hash", models.CharField(blank=True, editable=False, max_length=64)),
                ("code_expires_at", models.DateTimeField(blank=True, null=True)),
                ("code_attempts", models.PositiveSmallIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "shipment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="phone_subscriptions",
                        to="tracking.shipment",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PhoneMessage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("claimed", "Claimed by a worker"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("uncertain", "Uncertain (worker stopped while sending)"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("lease_owner", models.CharField(blank=True, max_length=64)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("key", models.CharField(help_text="code:N, milestone:<name> or exception:<event id>.", max_length=64)),
                (
                    "channel",
                    models.CharField(
                        choices=[("whatsapp", "WhatsApp"), ("sms", "SMS")],
                        help_text="The channel used (SMS after a fallback).",
                        max_length=10,
                    ),
                ),
                (
                    "fell_back",
                    models.BooleanField(default=False, help_text="WhatsApp could not reach the number; SMS was used."),
                ),
                ("template", models.CharField(blank=True, max_length=64)),
                (
                    "secret_encrypted",
                    models.TextField(blank=True, editable=False, help_text="A one-time code, sealed until sent."),
                ),
                ("provider_id", models.CharField(blank=True, editable=False, max_length=128, null=True, unique=True)),
                (
                    "delivery",
                    models.CharField(
                        choices=[
                            ("queued", "Not handed over yet"),
                            ("accepted", "Accepted by the platform"),
                            ("sent", "Sent"),
                            ("delivered", "Delivered"),
                            ("read", "Read"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("delivery_at", models.DateTimeField(blank=True, null=True)),
                (
                    "event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tracking.trackingevent",
                    ),
                ),
                (
                    "subscription",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="tracking.phonesubscription",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PhoneReceipt",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("provider_id", models.CharField(max_length=128)),
                (
                    "delivery",
                    models.CharField(
                        choices=[
                            ("queued", "Not handed over yet"),
                            ("accepted", "Accepted by the platform"),
                            ("sent", "Sent"),
                            ("delivered", "Delivered"),
                            ("read", "Read"),
                            ("failed", "Failed"),
                        ],
                        max_length=10,
                    ),
                ),
                ("occurred_at", models.DateTimeField()),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                ("detail", models.CharField(blank=True, max_length=300)),
                (
                    "message",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="receipts", to="tracking.phonemessage"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("provider_id", "delivery"), name="phone_receipt_once")],
            },
        ),
        migrations.AddIndex(
            model_name="phonesubscription",
            index=models.Index(fields=["shipment", "status"], name="phone_subscription_shipment"),
        ),
        migrations.AddIndex(
            model_name="phonesubscription",
            index=models.Index(fields=["phone_hash"], name="phone_subscription_hash"),
        ),
        migrations.AddConstraint(
            model_name="phonesubscription",
            constraint=models.UniqueConstraint(
                fields=("shipment", "phone_hash"), name="phone_subscription_one_per_number"
            ),
        ),
        migrations.AddIndex(
            model_name="phonemessage",
            index=models.Index(fields=["status", "next_attempt_at"], name="phone_message_due"),
        ),
        migrations.AddIndex(
            model_name="phonemessage",
            index=models.Index(fields=["created_at", "channel"], name="phone_message_day"),
        ),
        migrations.AddConstraint(
            model_name="phonemessage",
            constraint=models.UniqueConstraint(fields=("subscription", "key"), name="phone_message_once"),
        ),
        migrations.RunPython(roles_resync, migrations.RunPython.noop),
    ]
