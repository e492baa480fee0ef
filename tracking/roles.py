"""Staff roles: the groups and their permissions (applied by a data migration).

Dispatcher       scans and exceptions, event CSV import, proof-of-delivery upload, shipment details;
                 no personal data.
Customer service reads everything incl. recipients' personal data, corrects contacts and shipment
                 details, opens and closes exceptions, imports shipments, adds a recipient's phone
                 for WhatsApp/SMS updates with the consent given, reads the messages; deletes nothing.
Administrator    everything in tracking (incl. deletes), staff accounts, login lockouts.
"""

# (app_label, codename) pairs; "*" takes every permission of the app.
ROLES: dict[str, list[tuple[str, str]]] = {
    "Dispatcher": [
        ("tracking", "view_shipment"),
        ("tracking", "change_shipment"),  # weights and pieces; the timeline and proof inlines
        ("tracking", "view_trackingevent"),
        ("tracking", "add_trackingevent"),
        ("tracking", "record_scan"),
        ("tracking", "manage_exception"),
        ("tracking", "view_proofofdelivery"),
        ("tracking", "add_proofofdelivery"),
        ("tracking", "view_facility"),
        ("tracking", "view_partner"),
    ],
    "Customer service": [
        ("tracking", "view_shipment"),
        ("tracking", "change_shipment"),
        ("tracking", "add_shipment"),
        ("tracking", "view_contact"),
        ("tracking", "change_contact"),
        ("tracking", "view_trackingevent"),
        ("tracking", "manage_exception"),
        ("tracking", "view_proofofdelivery"),
        ("tracking", "view_facility"),
        ("tracking", "view_partner"),
        ("tracking", "view_phonesubscription"),
        ("tracking", "add_phonesubscription"),
        ("tracking", "view_phonemessage"),
    ],
    "Administrator": [
        ("tracking", "*"),
        ("auth", "view_user"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("auth", "view_group"),
        ("admin", "view_logentry"),
        ("axes", "view_accessattempt"),
        ("axes", "delete_accessattempt"),
        ("axes", "view_accessfailurelog"),
        ("axes", "view_accesslog"),
    ],
}


def roles_sync(group_model, permission_model) -> None:
    """Create the groups and set exactly the permissions above (idempotent)."""
    for name, wanted in ROLES.items():
        group, _created = group_model.objects.get_or_create(name=name)
        permissions = []
        for app_label, codename in wanted:
            found = permission_model.objects.filter(content_type__app_label=app_label)
            if codename != "*":
                found = found.filter(codename=codename)
            permissions += list(found)
        group.permissions.set(permissions)
