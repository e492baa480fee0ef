"""Staff groups Dispatcher, Customer service and Administrator with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from tracking.roles import ROLES, roles_sync


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now for the apps the
    # roles name so that this migration can attach them on a fresh database.
    for app_config in apps.get_app_configs():
        if app_config.label in {label for perms in ROLES.values() for label, _ in perms}:
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None
    roles_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0005_admin_audit_proof_of_delivery"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("axes", "0010_accessattemptexpiration"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
