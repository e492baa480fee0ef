"""The e-mails of a subscription, rendered from an outbox row: a leaf the sender calls.

Templates live in templates/tracking/notifications/; every message is in the subscriber's
language and carries a one-click unsubscribe link (docs/notifications.md).
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from tracking.models import EmailNotification, Milestone
from tracking.notify import links


def email_message(notification: EmailNotification, *, address: str) -> EmailMultiAlternatives:
    """Return the e-mail for an outbox row to ``address``, in the subscriber's language.

    Every message carries a one-click unsubscribe link and the RFC 8058 headers.
    """
    subscription = notification.subscription
    shipment = subscription.shipment
    unsubscribe_url = links.unsubscribe_url(subscription)
    kind, _sep, detail = notification.key.partition(":")
    with translation.override(subscription.language):
        context = {
            "shipment": shipment,
            "number": shipment.display_number,
            "tracking_url": settings.PHOENIX_SITE_URL + shipment.get_absolute_url(),
            "unsubscribe_url": unsubscribe_url,
            "event": notification.event,
        }
        if kind == "confirm":
            template = "confirm"
            context["confirm_url"] = links.confirm_url(subscription)
        else:
            template = "update"
            context["is_exception"] = kind == "exception"
            if kind == "exception":
                context["reason_label"] = notification.event.get_reason_display()
            else:
                context["milestone_label"] = Milestone(detail).label
        base = f"tracking/notifications/{template}"
        subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
        text = render_to_string(f"{base}.txt", context)
        html = render_to_string(f"{base}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[address],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-QualityPost-Notification": str(notification.pk),
        },
    )
    message.attach_alternative(html, "text/html")
    return message
