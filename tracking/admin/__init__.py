"""Staff screens in the Django admin: shipments, timelines, scans, exceptions, CSV, partners.

URLs: ``/admin/`` (Django's admin site; the shipment pages add ``scan/``, ``exception/`` and
proof-of-delivery views). Permissions: Django's model permissions plus ``record_scan`` and
``manage_exception``, granted by the staff roles (tracking/roles.py); personal data only with
``view_contact``. Every change of state goes through tracking/services.py. Docs: docs/admin.md.

This module is the one list of the app's admin registrations: Django imports it at start-up.
"""

from tracking.admin import shipments, tokens  # noqa: F401
from tracking.notify import admin as notify_admin  # noqa: F401
from tracking.notify import phone_admin  # noqa: F401
