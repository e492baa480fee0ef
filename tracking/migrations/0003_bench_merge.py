# Joins the two 0002 migrations of the branches merged into `bench` (the coordinator renumbers at merge).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0002_api_tokens_idempotency"),
        ("tracking", "0002_cutover_maintenance"),
    ]

    operations = []
