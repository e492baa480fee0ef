"""Notifications: e-mail subscriptions for customers and signed webhooks for partners.

URLs (namespace ``notify``): ``/track/<number>/notify/`` (subscribe; the postal code is not
needed, nothing private is shown), ``/notify/confirm/<token>/`` and
``/notify/unsubscribe/<token>/`` (signed links). Permissions: the signed link is the permission;
staff manage endpoints, deliveries and subscriptions in the admin (``admin``).
Flow, one direction only: a recorded scan event owes rows (``outbox``, in its transaction), which
enqueue the worker's task (tracking/tasks.py), which runs the ``sender``, which renders
``emails`` and posts ``webhooks``. Docs: docs/notifications.md.
"""
