# Merges the api and cutover branches' 0002 migrations in the `stack` branch, which integrates
# both. No operations: the coordinator drops this file when renumbering at merge into main.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0002_api_tokens_idempotency"),
        ("tracking", "0002_cutover_maintenance"),
    ]

    operations = []
