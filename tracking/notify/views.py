"""Pages of the e-mail subscriptions: "Notify me", confirmation and unsubscribe links."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from phoenix.clientip import client_ip
from tracking import budget, numbers
from tracking.models import Shipment
from tracking.notify import callbacks, phone_subscriptions, subscriptions
from tracking.notify.forms import PhoneCodeForm, PhoneSubscribeForm, SubscribeForm
from tracking.notify.subscriptions import SubscriptionError


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "tracking/notifications/error.html", {"message": message}, status=status)


def _shipment_or_error(request: HttpRequest, number: str, *, view: str):
    """Return ``(shipment, None)``, or ``(None, response)``: a redirect to ``view`` with the number
    as written canonically, or an error page for a mistyped or unknown number."""
    try:
        canonical = numbers.parse(number)
    except numbers.InvalidTrackingNumber:
        return None, _error(request, _("This tracking number is not valid; it was probably mistyped."), 404)
    if canonical != number:
        return None, redirect(view, canonical)
    # The page tells whether a number exists: it spends the same lookup budget as the tracking pages.
    if retry_after := budget.lookup_retry_after(request):
        response = _error(request, _("Too many lookups from your connection. Please wait a moment and try again."), 429)
        response.headers["Retry-After"] = str(retry_after)
        return None, response
    shipment = Shipment.objects.filter(tracking_number=canonical, is_test=False).first()
    if shipment is None:
        budget.lookup_charge(request, misses=1)
        return None, _error(request, _("We have no shipment with this tracking number."), 404)
    budget.lookup_charge(request, hits=1)
    return shipment, None


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, number: str) -> HttpResponse:
    shipment, failed = _shipment_or_error(request, number, view="notify:subscribe")
    if failed:
        return failed
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
                return redirect("notify:requested", shipment.tracking_number)
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


# --- WhatsApp and SMS from the page (tracking/notify/phone_subscriptions.py) ------------------


@require_http_methods(["GET", "POST"])
def phone_subscribe(request: HttpRequest, number: str) -> HttpResponse:
    shipment, failed = _shipment_or_error(request, number, view="notify:phone-subscribe")
    if failed:
        return failed
    form = PhoneSubscribeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                subscription = phone_subscriptions.phone_subscription_request(
                    shipment=shipment,
                    phone=form.cleaned_data["phone"],
                    channel=form.cleaned_data["channel"],
                    topics=form.cleaned_data["topics"],
                    language=translation.get_language() or "es",
                    client=client_ip(request),
                )
            except SubscriptionError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                request.session["notify_phone"] = subscription.pk
                request.session["notify_masked"] = subscription.phone_masked
                return redirect("notify:phone-code", shipment.tracking_number)
        else:
            status = 400
    context = {"shipment": shipment, "form": form}
    return render(request, "tracking/notifications/phone_subscribe.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def phone_code(request: HttpRequest, number: str) -> HttpResponse:
    shipment, failed = _shipment_or_error(request, number, view="notify:phone-code")
    if failed:
        return failed
    form = PhoneCodeForm(request.POST or None)
    status, confirmed = 200, False
    if request.method == "POST":
        if form.is_valid():
            try:
                phone_subscriptions.phone_subscription_confirm(
                    subscription_id=request.session.get("notify_phone", 0), code=form.cleaned_data["code"]
                )
            except SubscriptionError as exc:
                form.add_error("code", exc.message)
                status = exc.status
            else:
                confirmed = True
                request.session.pop("notify_phone", None)
        else:
            status = 400
    context = {
        "shipment": shipment,
        "form": form,
        "masked": request.session.get("notify_masked", ""),
        "confirmed": confirmed,
    }
    return render(request, "tracking/notifications/phone_code.html", context, status=status)


# --- The platforms' callbacks (tracking/notify/callbacks.py) ----------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    """The WhatsApp Business Platform's webhook: the verify handshake (GET) and signed events (POST)."""
    try:
        if request.method == "GET":
            challenge = callbacks.whatsapp_verify(
                mode=request.GET.get("hub.mode", ""),
                token=request.GET.get("hub.verify_token", ""),
                challenge=request.GET.get("hub.challenge", ""),
            )
            return HttpResponse(challenge, content_type="text/plain")
        callbacks.whatsapp_signature_check(body=request.body, header=request.headers.get("X-Hub-Signature-256", ""))
        recorded = callbacks.whatsapp_callback(body=request.body)
    except callbacks.Refused as refused:
        return HttpResponse(str(refused), status=refused.status, content_type="text/plain")
    return HttpResponse(f"recorded {recorded}", content_type="text/plain")


@csrf_exempt
@require_http_methods(["POST"])
def sms_events(request: HttpRequest, token: str) -> HttpResponse:
    """Amazon SNS notifications with SMS delivery events and inbound SMS (STOP)."""
    try:
        callbacks.sms_events_token_check(token)
        recorded = callbacks.sms_callback(body=request.body)
    except callbacks.Refused as refused:
        return HttpResponse(str(refused), status=refused.status, content_type="text/plain")
    return HttpResponse(f"recorded {recorded}", content_type="text/plain")
