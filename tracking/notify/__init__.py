"""Notifications: e-mail, WhatsApp and SMS updates for customers and signed webhooks for partners.

URLs (namespace ``notify``): ``/track/<number>/notify/`` (subscribe by e-mail; the postal code is
not needed, nothing private is shown), ``/track/<number>/notify/phone/`` and ``.../phone/code/``
(WhatsApp/SMS, confirmed by a one-time code), ``/notify/confirm/<token>/`` and
``/notify/unsubscribe/<token>/`` (signed links), ``/notify/whatsapp/webhook/`` (Meta's status and
inbound-message webhook, HMAC-signed) and ``/notify/sms/events/<token>/`` (SNS-signed SMS events
and inbound SMS). Permissions: the signed link, the one-time code or the platform's signature is
the permission; staff manage endpoints, deliveries and subscriptions in the admin (``admin``,
``phone_admin``).
Flow, one direction only: a recorded scan event owes rows (``outbox``, in its transaction), which
enqueue the worker's task (tracking/tasks.py), which runs the ``sender``, which renders
``emails``, posts ``webhooks`` and hands WhatsApp/SMS to ``messaging`` (``texts``, ``channels``).
Docs: docs/notifications.md.
"""
