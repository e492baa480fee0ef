"""The sandbox's API (docs/api.md, Sandbox): scripted test shipments for sandbox tokens only.

``POST /api/v1/sandbox/shipments`` creates a test shipment with a magic number that follows a
script; ``POST /api/v1/sandbox/shipments/<number>/advance`` records its next event, which fires
the partner's webhooks like any scan. A live token is refused (``403 sandbox_only``); another
partner's number is ``404`` like an unknown one.

The scripts and the two workflows (``sandbox_shipment_create``, ``sandbox_advance``) come first:
each step is recorded through ``event_record`` like any scan, so the partner's webhooks fire,
signed, as they will in production; test shipments (``Shipment.is_test``) e-mail nobody
(tracking/notify/outbox.py).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from tracking import numbers
from tracking.api.auth import HasPartnerToken
from tracking.api.errors import ApiError
from tracking.api.views import ERROR_HEADERS, _errors
from tracking.models import EventSource, Facility, Partner, Shipment
from tracking.services import event_record, shipment_create


@dataclass(frozen=True)
class Step:
    code: str
    reason: str = ""
    close_exception: bool = False


# Script name -> (its digit in the number, its events after label_created).
SCRIPTS: dict[str, tuple[int, tuple[Step, ...]]] = {
    "delivered": (
        1,
        (Step("picked_up"), Step("in_transit"), Step("at_destination"), Step("out_for_delivery"), Step("delivered")),
    ),
    "exception_then_delivered": (
        2,
        (
            Step("picked_up"),
            Step("in_transit"),
            Step("out_for_delivery"),
            Step("delivery_attempted", reason="recipient_not_home"),
            Step("exception_cleared", close_exception=True),
            Step("out_for_delivery"),
            Step("delivered"),
        ),
    ),
    "returned": (
        3,
        (
            Step("picked_up"),
            Step("in_transit"),
            Step("exception", reason="refused"),
            Step("returning_to_sender"),
            Step("returned_to_sender"),
        ),
    ),
    "lost": (4, (Step("picked_up"), Step("in_transit"), Step("exception", reason="missed_connection"), Step("lost"))),
}
_BY_DIGIT = {digit: name for name, (digit, _steps) in SCRIPTS.items()}


class ScriptFinished(Exception):
    """The shipment has walked its whole script."""


def script_of(shipment: Shipment) -> str | None:
    """Return the name of the script ``shipment``'s number follows, or None (not a sandbox number)."""
    digit = numbers.sandbox_script(shipment.tracking_number)
    return _BY_DIGIT.get(digit) if shipment.is_test else None


def sandbox_shipment_create(
    *, partner: Partner, script: str, origin_facility: Facility, destination_facility: Facility
) -> Shipment:
    """Create a test shipment of sandbox ``partner`` that follows ``script``."""
    if not partner.is_sandbox:
        raise ValueError("only a sandbox partner creates sandbox shipments")
    digit, _steps = SCRIPTS[script]
    return shipment_create(
        partner=partner,
        origin_facility=origin_facility,
        destination_facility=destination_facility,
        destination_postal_code="00000",
        weight_grams=1000,
        reference=f"sandbox-{script}",
        recipient={"name": "Sandbox Recipient", "city": destination_facility.city, "postal_code": "00000"},
        source=EventSource.SYSTEM,
        number_draw=lambda: numbers.sandbox_generate(digit),
    )


def sandbox_advance_step(*, shipment: Shipment) -> tuple[int, int]:
    """Record the next event of ``shipment``'s script; return (steps done, steps left).

    The step reached is counted from the shipment's events (its label is step 0), so two
    concurrent calls cannot record one step twice: the count is taken with the row locked. Raise ScriptFinished when every step is recorded.
    """
    name = script_of(shipment)
    if name is None:
        raise ValueError("not a sandbox shipment")
    _digit, steps = SCRIPTS[name]
    with transaction.atomic():
        locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
        done = locked.events.count() - 1
        if done >= len(steps):
            raise ScriptFinished(name)
        step = steps[done]
        facility = locked.origin_facility if done < len(steps) // 2 else locked.destination_facility
        event_record(
            shipment=locked,
            code=step.code,
            reason=step.reason,
            close_exception=step.close_exception,
            occurred_at=timezone.now(),
            facility=facility,
            note=f"sandbox script {name}, step {done + 1}",
            source=EventSource.SYSTEM,
        )
    shipment.refresh_from_db()
    return done + 1, len(steps) - done - 1


# --- Views ---------------------------------------------------------------------------------

TAGS = ["sandbox"]


class SandboxShipmentInSerializer(serializers.Serializer):
    script = serializers.ChoiceField(choices=list(SCRIPTS), help_text="What the shipment will go through.")
    origin_facility = serializers.CharField(max_length=12, required=False, help_text="Default: the first facility.")
    destination_facility = serializers.CharField(max_length=12, required=False, help_text="Default: the second.")


class SandboxShipmentSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(help_text="QP99, the script's digit, random digits, the check digit.")
    display_number = serializers.CharField()
    script = serializers.ChoiceField(choices=list(SCRIPTS))
    steps = serializers.ListField(child=serializers.CharField(), help_text="The event codes still to come.")
    milestone = serializers.CharField()


class AdvancedSerializer(serializers.Serializer):
    tracking_number = serializers.CharField()
    script = serializers.ChoiceField(choices=list(SCRIPTS))
    step = serializers.IntegerField(help_text="The step just recorded, from 1.")
    steps_left = serializers.IntegerField()
    milestone = serializers.CharField()
    exception_open = serializers.BooleanField()


def _sandbox_partner(request):
    partner = request.auth.partner
    if not partner.is_sandbox:
        raise ApiError(403, "sandbox_only", "The sandbox takes sandbox tokens only (phxt_...); ask operations for one.")
    return partner


def _facility(code: str | None, fallback: int, field: str) -> Facility:
    if code:
        found = Facility.objects.filter(code__iexact=code).first()
        if found is None:
            raise ApiError(400, "invalid", f"No facility has the code {code}.", {field: [f"Unknown code {code}."]})
        return found
    facilities = list(Facility.objects.order_by("code")[:2])
    if not facilities:
        raise ApiError(400, "invalid", "No facility exists yet; give facility codes.", {field: ["Required here."]})
    return facilities[min(fallback, len(facilities) - 1)]


@extend_schema(
    operation_id="sandbox_shipments_create",
    summary="Create a scripted test shipment (sandbox tokens only)",
    description="The shipment follows `script` one event per call to its `advance` path. Test shipments e-mail "
    "nobody; your webhooks fire as in production.",
    parameters=ERROR_HEADERS,
    request=SandboxShipmentInSerializer,
    responses={201: SandboxShipmentSerializer, **_errors(400, 401, 403, 413, 415, 429, 503)},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes([HasPartnerToken])
def sandbox_shipments(request) -> Response:
    partner = _sandbox_partner(request)
    serializer = SandboxShipmentInSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    shipment = sandbox_shipment_create(
        partner=partner,
        script=data["script"],
        origin_facility=_facility(data.get("origin_facility"), 0, "origin_facility"),
        destination_facility=_facility(data.get("destination_facility"), 1, "destination_facility"),
    )
    _digit, steps = SCRIPTS[data["script"]]
    body = {
        "tracking_number": shipment.tracking_number,
        "display_number": shipment.display_number,
        "script": data["script"],
        "steps": [step.code for step in steps],
        "milestone": shipment.milestone,
    }
    return Response(body, status=201)


@extend_schema(
    operation_id="sandbox_shipments_advance",
    summary="Record the next event of a test shipment's script (sandbox tokens only)",
    description="`409 script_finished` once every step is recorded.",
    parameters=ERROR_HEADERS,
    request=None,
    responses={200: AdvancedSerializer, **_errors(400, 401, 403, 404, 429, 503), 409: _errors(400)[400]},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes([HasPartnerToken])
def sandbox_advance(request, number: str) -> Response:
    partner = _sandbox_partner(request)
    try:
        canonical = numbers.parse(number)
    except numbers.InvalidTrackingNumber as exc:
        message = numbers.error_message(number, exc.reason)
        raise ApiError(400, "invalid_tracking_number", message, {"number": [message]}) from None
    shipment = Shipment.objects.filter(tracking_number=canonical, partner=partner).first()
    script = script_of(shipment) if shipment else None
    if script is None:
        raise ApiError(404, "not_found", f"You have no sandbox shipment with the number {canonical}.")
    try:
        step, left = sandbox_advance_step(shipment=shipment)
    except ScriptFinished:
        raise ApiError(409, "script_finished", f"{canonical} has walked its whole script ({script}).") from None
    body = {
        "tracking_number": canonical,
        "script": script,
        "step": step,
        "steps_left": left,
        "milestone": shipment.milestone,
        "exception_open": shipment.exception_open,
    }
    return Response(body)
