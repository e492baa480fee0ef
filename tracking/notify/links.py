"""The signed links in subscription e-mails: confirm (double opt-in) and one-click unsubscribe.

A leaf: the e-mail renderer writes these links and the subscription workflows read them back,
so neither has to import the other. The salts are part of every link already sent; keep them.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from tracking.models import Subscription

CONFIRM_SALT = "tracking.notify.confirm"
UNSUBSCRIBE_SALT = "tracking.notify.unsubscribe"
CONFIRM_MAX_AGE = timedelta(days=7)


def confirm_token(subscription: Subscription) -> str:
    return signing.dumps(subscription.pk, salt=CONFIRM_SALT)


def unsubscribe_token(subscription: Subscription) -> str:
    return signing.dumps(subscription.pk, salt=UNSUBSCRIBE_SALT)


def confirm_url(subscription: Subscription) -> str:
    """Return the absolute confirmation link (on PHOENIX_SITE_URL)."""
    return settings.PHOENIX_SITE_URL + reverse("notify:confirm", args=[confirm_token(subscription)])


def unsubscribe_url(subscription: Subscription) -> str:
    """Return the absolute one-click unsubscribe link (on PHOENIX_SITE_URL)."""
    return settings.PHOENIX_SITE_URL + reverse("notify:unsubscribe", args=[unsubscribe_token(subscription)])
