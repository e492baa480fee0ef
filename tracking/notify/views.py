"""Pages of the e-mail subscriptions: "Notify me", confirmation and unsubscribe links."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from phoenix.clientip import client_ip
from tracking import numbers
from tracking.models import Shipment
from tracking.notify import subscriptions
from tracking.notify.forms import SubscribeForm
from tracking.notify.subscriptions import SubscriptionError


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "tracking/notifications/error.html", {"message": message}, status=status)


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, number: str) -> HttpResponse:
    try:
        canonical = numbers.parse(number)
    except numbers.InvalidTrackingNumber:
        return _error(request, _("This tracking number is not valid; it was probably mistyped."), 404)
    if canonical != number:
        return redirect("notify:subscribe", canonical)
    shipment = Shipment.objects.filter(tracking_number=canonical, is_test=False).first()
    if shipment is None:
        return _error(request, _("We have no shipment with this tracking number."), 404)
    form = SubscribeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                subscription = subscriptions.subscription_request(
                    shipment=shipment,
                    email=form.cleaned_data["email"],
                    topics=form.cleaned_data["topics"],
                    language=translation.get_language() or "es",
                    client=client_ip(request),
                )
            except SubscriptionError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                request.session["notify_masked"] = subscription.email_masked
                return redirect("notify:requested", canonical)
        else:
            status = 400
    return render(request, "tracking/notifications/subscribe.html", {"shipment": shipment, "form": form}, status=status)


def requested(request: HttpRequest, number: str) -> HttpResponse:
    masked = request.session.get("notify_masked", "")
    return render(request, "tracking/notifications/requested.html", {"number": number, "masked": masked})


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET (and HEAD) show a button; only its POST, with the page's CSRF token, confirms.

    Link scanners in mail systems open every link, and a GET that confirmed would defeat the
    double opt-in. The page is never cached (it carries a CSRF token), unlike the public
    tracking pages.
    """
    try:
        if request.method == "POST":
            subscription = subscriptions.subscription_confirm(token=token)
            return render(request, "tracking/notifications/confirmed.html", {"subscription": subscription})
        subscription = subscriptions.subscription_from_confirm_token(token)
    except SubscriptionError as exc:
        return _error(request, exc.message, exc.status)
    if subscription.status == subscription.Status.ACTIVE:
        return render(request, "tracking/notifications/confirmed.html", {"subscription": subscription})
    return render(request, "tracking/notifications/confirm_page.html", {"subscription": subscription})


# Mail clients send the RFC 8058 one-click POST without a CSRF token; the signed token in the
# URL is what authorises it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            subscription = subscriptions.subscription_unsubscribe(token=token)
            return render(request, "tracking/notifications/unsubscribed.html", {"subscription": subscription})
        subscription = subscriptions.subscription_from_unsubscribe_token(token)
    except SubscriptionError as exc:
        return _error(request, exc.message, exc.status)
    # A GET only asks: link scanners in mail systems open links, and must not unsubscribe anyone.
    return render(request, "tracking/notifications/unsubscribe.html", {"subscription": subscription})
