"""Partner API (docs/api.md): tracking JSON, proof-of-delivery images, shipment
creation, bulk scan events.

Authentication is ``Authorization: Token <key>`` (keys stored hashed, see PartnerToken).
Errors use the one shape of tracking/api/errors.py. See docs/api.md.
"""

import logging
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view, content_negotiation_class, permission_classes
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from tracking import budget, images, numbers
from tracking.api import feeds, projection, serializers
from tracking.api.auth import HasPartnerToken, PartnerTokenAuthentication, note_policy
from tracking.api.errors import ApiError, exception_handler
from tracking.api.idempotency import Idempotency
from tracking.models import (
    EventSource,
    Facility,
    ProofOfDelivery,
    Shipment,
)
from tracking.services import events_ingest, shipment_create_many

logger = logging.getLogger(__name__)

MAX_NUMBERS_PER_LOOKUP = 25


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = PartnerTokenAuthentication
    name = "partnerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A partner token with the prefix `Token`: `Authorization: Token phx_...`.",
        }


# --- Tracking -----------------------------------------------------------------------------

ERRORS = serializers.ErrorSerializer


def _errors(*codes: int) -> dict:
    descriptions = {
        400: "Invalid input (see error.fields).",
        401: "Missing, unknown or disabled token.",
        403: "The partner is disabled.",
        404: "Not found.",
        413: "The request body is too large.",
        415: "The body is not JSON (send Content-Type: application/json).",
        422: "The Idempotency-Key was used with a different body.",
        429: "Too many requests: wait for Retry-After seconds.",
        503: "The database is unavailable (phoenix/db): retry after Retry-After seconds.",
    }
    return {code: OpenApiResponse(ERRORS, description=descriptions[code]) for code in codes}


LANG = OpenApiParameter(
    "lang", str, enum=["es", "en"], description="Adds `message` to the shipment and its events, in this language."
)

# Response headers of the errors, documented on every operation.
ERROR_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=[429],
        required=True,
        description="Seconds to wait before retrying.",
    ),
    OpenApiParameter(
        "WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], required=True, description="Always `Token`."
    ),
]


@extend_schema(
    operation_id="tracking_retrieve",
    parameters=[*ERROR_HEADERS, LANG],
    auth=[{"partnerToken": []}, {}],
    summary="Track one shipment",
    description="The public projection; with the token of the partner that created the shipment, also `private`.",
    responses={200: serializers.TrackingSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    tags=["tracking"],
)
@api_view(["GET"])
def tracking_detail(request, number: str) -> Response:
    projection.language_of(request)
    try:
        canonical = numbers.parse(number)
    except numbers.InvalidTrackingNumber as exc:
        message = numbers.error_message(number, exc.reason)
        raise ApiError(400, "invalid_tracking_number", message, {"number": [message]}) from None
    _lookup_allowed(request)
    found = projection.by_number(request, [canonical])
    _lookup_charge(request, [canonical], found)
    if canonical not in found:
        raise ApiError(404, "not_found", f"No shipment has the tracking number {canonical}.")
    return Response(found[canonical])


_JSON = JSONRenderer()
_ALLOW = ", ".join(tracking_detail.cls().allowed_methods)  # as DRF writes it
_JSON_TYPES = {"*/*", "application/*", "application/json"}


def _accepts_json(request) -> bool:
    """True when DRF's negotiation would pick the JSON renderer (no Accept, or one naming it)."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return not accept or any(part.split(";")[0].strip() in _JSON_TYPES for part in accept.split(","))


@wraps(tracking_detail)  # the same operation for the schema (drf-spectacular reads .cls)
def tracking_read(request, number: str) -> HttpResponse:
    """GET /api/v1/tracking/<number> without a token, as a plain Django view.

    The public read is the API's busiest path: through DRF it cost 9.6 M instructions, most of
    it the ORM and DRF's dispatch, for one shipment's JSON (docs/performance.md). Here: the DRF
    view's own throttles (its throttle_classes, asked as DRF asks them, the same counters), one query in fixed SQL, the same
    projection and DRF's JSON renderer, so the bytes are DRF's (tests/tracking/api/
    test_tracking_read.py). Anything else goes to the DRF view ``tracking_detail`` unchanged: a
    token (authentication, scopes, pins, private data), an error of any kind (a bad number or
    lang, an unknown number, a throttled client), another method or an Accept that is not JSON.
    """
    language = request.GET.get("lang")
    fast = (
        request.method == "GET"
        and "HTTP_AUTHORIZATION" not in request.META
        and language in (None, *projection.LANGUAGES)
        and "format" not in request.GET
        and _accepts_json(request)
        and numbers.is_valid(number)
        and numbers.parse(number) == number
    )
    if not fast:
        return tracking_detail(request, number)
    # DRF's check_throttles: every throttle is asked (each counts the request it allows).
    # DRF's own request and view, as its throttles expect them (a throttle may read the view).
    client = Request(request, authenticators=())
    view = tracking_detail.cls(request=client, args=(), kwargs={"number": number})
    waits = [throttle.wait() for throttle in view.get_throttles() if not throttle.allow_request(client, view)]
    if waits:
        return _drf_error(exceptions.Throttled(max((w for w in waits if w is not None), default=None)))
    # The lookup budget, as the DRF view spends it (tracking/budget.py).
    try:
        _lookup_allowed(client)
    except exceptions.Throttled as exc:
        return _drf_error(exc)
    data = projection.public(number, language)
    budget.lookup_charge(client, hits=1 if data is not None else 0, misses=0 if data is not None else 1)
    _note_lookup_policy(client)
    if data is None:
        return _drf_error(ApiError(404, "not_found", f"No shipment has the tracking number {number}."))
    return _as_drf(HttpResponse(_JSON.render(data), content_type="application/json"))


def _as_drf(response: HttpResponse) -> HttpResponse:
    """The header DRF's finalize_response adds for this view (one renderer: no Vary)."""
    response.headers["Allow"] = _ALLOW
    return response


def _drf_error(exc) -> HttpResponse:
    """The answer DRF gives for ``exc`` raised in this view (the API's exception handler)."""
    response = exception_handler(exc, {})
    response.accepted_renderer = _JSON
    response.accepted_media_type = _JSON.media_type
    response.renderer_context = {}
    return _as_drf(response.render())


@extend_schema(
    operation_id="tracking_list",
    auth=[{"partnerToken": []}, {}],
    summary="Track up to 25 shipments",
    parameters=[
        OpenApiParameter("numbers", str, required=True, description="Up to 25 tracking numbers, separated by commas."),
        LANG,
    ],
    responses={200: serializers.TrackingListSerializer, **_errors(400, 401, 403, 429, 503)},
    tags=["tracking"],
)
@api_view(["GET"])
def tracking_list(request) -> Response:
    projection.language_of(request)
    tokens = numbers.split_many(request.query_params.get("numbers", ""))
    if not tokens:
        raise ApiError(400, "invalid", "Give up to 25 tracking numbers.", {"numbers": ["This field is required."]})
    if len(tokens) > MAX_NUMBERS_PER_LOOKUP:
        message = f"At most {MAX_NUMBERS_PER_LOOKUP} numbers per request; got {len(tokens)}."
        raise ApiError(400, "too_many_numbers", message, {"numbers": [message]})
    parsed: list[tuple[str, str | None, str | None]] = []
    for token in tokens:
        try:
            parsed.append((token, numbers.parse(token), None))
        except numbers.InvalidTrackingNumber as exc:
            parsed.append((token, None, numbers.error_message(token, exc.reason)))
    asked = sorted({number for _, number, _ in parsed if number})
    _lookup_allowed(request)
    found = projection.by_number(request, asked)
    _lookup_charge(request, asked, found)
    results = []
    for token, number, error in parsed:
        if error:
            results.append({"query": token, "status": "invalid", "message": error})
        elif number in found:
            results.append({"query": token, "status": "found", "shipment": found[number]})
        else:
            results.append(
                {"query": token, "status": "not_found", "message": f"No shipment has the tracking number {number}."}
            )
    return Response({"results": results})


def _lookup_allowed(request) -> None:
    """Refuse (429) a lookup once the client's lookup budget is spent (tracking/budget.py)."""
    wait = budget.lookup_retry_after(request)
    _note_lookup_policy(request)
    if wait:
        raise exceptions.Throttled(wait=wait)


def _lookup_charge(request, asked: list[str], found: dict[str, dict]) -> None:
    """Charge the lookup budget for what the answer tells: a number found that the partner does
    not own costs a hit, an unknown one a miss; a partner's own shipments cost nothing."""
    hits = sum(1 for number in asked if number in found and "private" not in found[number])
    budget.lookup_charge(request, hits=hits, misses=len(asked) - len(found))
    _note_lookup_policy(request)


def _note_lookup_policy(request) -> None:
    window = budget.lookup_window(request)
    remaining = settings.PHOENIX_LOOKUP_BUDGET - budget.spent(window)
    note_policy(request, "lookup", settings.PHOENIX_LOOKUP_BUDGET, settings.PHOENIX_LOOKUP_WINDOW, remaining, window)


# --- Proofs of delivery -------------------------------------------------------------------


class AnyAccept(BaseContentNegotiation):
    """Serve an image to a client that asks for ``image/*``, not a 406.

    DRF renders only the errors here, always as JSON; the image bypasses its renderers.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(
    operation_id="proofs_retrieve",
    summary="Fetch a proof-of-delivery image",
    description="A photo or signature image, for the partner that created the shipment only; its link is "
    "`private.proof_of_delivery[].url` in the tracking answer. Answers the image itself (`Content-Disposition: "
    "inline`), or, where images are stored on S3, `302` to a URL signed for a short time (about a minute): "
    "fetch the link when you need the image rather than storing the answer. Another partner's proof, or an "
    "unknown id, is `404`.",
    parameters=[
        *ERROR_HEADERS,
        OpenApiParameter(
            "Location",
            str,
            OpenApiParameter.HEADER,
            response=[302],
            required=True,
            description="A presigned URL of the image, valid for a short time.",
        ),
        OpenApiParameter(
            "Cache-Control", str, OpenApiParameter.HEADER, response=[200, 302], description="`private, no-store`."
        ),
    ],
    responses={
        **{
            (200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The image, with its stored type.")
            for content_type in images.EXTENSIONS
        },
        302: OpenApiResponse(description="Where images are stored on S3: fetch the image at Location."),
        **_errors(401, 403, 404, 429, 503),
    },
    tags=["tracking"],
)
@api_view(["GET"])
@permission_classes([HasPartnerToken])
@content_negotiation_class(AnyAccept)
def proof_file(request, id: int) -> HttpResponse:
    # One answer for another partner's proof and for no proof at all: nothing to learn from it.
    proof = ProofOfDelivery.objects.filter(pk=id, shipment__partner=request.auth.partner).first()
    if proof is None:
        raise ApiError(404, "not_found", f"You have no proof of delivery with the id {id}.")
    try:
        return images.proof_response(proof)
    except Http404 as missing:  # the row outlived its file (logged as an error)
        raise ApiError(404, "not_found", str(missing)) from None


# --- Shipments ----------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="shipments_changed",
    summary="Your shipments changed since a time (the changes feed)",
    description="Your shipments whose tracking changed at or after `updated_after`, oldest change first, as "
    "tracking objects with `private` and `updated_at`. Follow `next` (also in the `Link` header) until it is "
    "null; keep the last `next` to resume later. Changes younger than about ten seconds appear on a later "
    "page. A shipment changed again moves to the end of the feed.",
    parameters=[
        *ERROR_HEADERS,
        OpenApiParameter("updated_after", OpenApiTypes.DATETIME, description="Required on the first page."),
        OpenApiParameter("cursor", str, description="From `next`: where the previous page ended."),
        LANG,
        OpenApiParameter("limit", int, description="Items per page, 1 to 500 (default 100)."),
    ],
    responses={200: serializers.ShipmentsPageSerializer, **_errors(400, 401, 403, 429, 503)},
    tags=["shipments"],
)
@extend_schema(
    methods=["POST"],
    operation_id="shipments_create",
    summary="Create shipments",
    description="One shipment object, or a list of up to 100 (all are created or none). "
    "Send an `Idempotency-Key` header to make retries safe: a retry with the same key and body "
    "answers the first answer again and creates nothing.",
    parameters=[
        *ERROR_HEADERS,
        OpenApiParameter(
            "Idempotency-Key",
            str,
            OpenApiParameter.HEADER,
            required=False,
            description="1 to 100 printable ASCII characters, unique per request you mean.",
        ),
    ],
    request=PolymorphicProxySerializer(
        component_name="ShipmentCreateRequest",
        serializers=[serializers.ShipmentInSerializer, serializers.ShipmentInSerializer(many=True)],
        resource_type_field_name=None,
        many=False,
    ),
    responses={
        201: PolymorphicProxySerializer(
            component_name="ShipmentCreateResponse",
            serializers=[serializers.ShipmentCreatedSerializer, serializers.ShipmentsCreatedSerializer],
            resource_type_field_name=None,
            many=False,
        ),
        **_errors(400, 401, 403, 413, 415, 422, 429, 503),
    },
    tags=["shipments"],
)
@api_view(["GET", "POST"])
@permission_classes([HasPartnerToken])
def shipments(request) -> Response:
    if request.method == "GET":
        return feeds.shipments_changed(request, partner=request.auth.partner)
    return _shipments_create(request)


def _shipments_create(request) -> Response:
    partner = request.auth.partner
    data = request.data
    many = isinstance(data, list)
    if not many and not isinstance(data, dict):
        raise ApiError(400, "invalid", "Send one shipment object or a list of them.")
    if many and not 1 <= len(data) <= serializers.MAX_SHIPMENTS_PER_REQUEST:
        message = f"Send 1 to {serializers.MAX_SHIPMENTS_PER_REQUEST} shipments per request."
        raise ApiError(400, "invalid", message, {"non_field_errors": [message]})

    idempotency = Idempotency.of(request, partner=partner, data=data)
    replay = idempotency.replay()
    if replay is not None:
        return replay

    serializer = serializers.ShipmentInSerializer(data=data, many=many)
    serializer.is_valid(raise_exception=True)
    items = serializer.validated_data if many else [serializer.validated_data]
    kwargs = _shipment_kwargs(items, many)

    shipments: list[Shipment] = []

    def create() -> dict:
        shipments.extend(shipment_create_many(partner=partner, items=kwargs, source=EventSource.API))
        created = [_shipment_created(request, s) for s in shipments]
        return {"shipments": created} if many else created[0]

    response = idempotency.run(create, status=201)
    if shipments:
        logger.info("partner %s created %d shipments", partner.pk, len(shipments))
    return response


def _shipment_kwargs(items: list[dict], many: bool) -> list[dict]:
    """Resolve facility codes (one query) and return shipment_create's arguments per item."""
    codes = {item[field].upper() for item in items for field in ("origin_facility", "destination_facility")}
    facilities = {f.code.upper(): f for f in Facility.objects.filter(code__in=codes)}
    errors = {}
    for index, item in enumerate(items):
        for field in ("origin_facility", "destination_facility"):
            if item[field].upper() not in facilities:
                errors[f"{index}.{field}" if many else field] = [f"No facility has the code {item[field]}."]
    if errors:
        raise ApiError(400, "invalid", "The request has errors; see fields for each one.", errors)
    return [
        {
            "origin_facility": facilities[item["origin_facility"].upper()],
            "destination_facility": facilities[item["destination_facility"].upper()],
            "destination_postal_code": item["recipient"]["postal_code"],
            "weight_grams": item["weight_grams"],
            "pieces": item["pieces"],
            "service": item["service"],
            "reference": item["reference"],
            "recipient": dict(item["recipient"]),
            "sender": dict(item["sender"]) if item.get("sender") else None,
            "phone_updates": _phone_updates(item),
        }
        for item in items
    ]


def _phone_updates(item: dict) -> dict | None:
    wanted = item.get("phone_updates")
    if not wanted:
        return None
    return {
        "phone": item["recipient"]["phone"],
        "default_country": item["recipient"]["country"],
        "first_name": item["recipient"]["name"],
        "consent_source": wanted["consent"]["source"],
        "consent_at": wanted["consent"]["at"],
        "channel": wanted["channel"],
        "language": wanted["language"],
    }


def _shipment_created(request, shipment: Shipment) -> dict:
    return {
        "tracking_number": shipment.tracking_number,
        "display_number": shipment.display_number,
        "reference": shipment.reference,
        "milestone": shipment.milestone,
        "url": request.build_absolute_uri(shipment.get_absolute_url()),
    }


# --- Events -------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="events_after",
    summary="Scan events of your shipments after a cursor (the changes feed)",
    description="Every scan event of your shipments, in the order Phoenix recorded them, after the cursor "
    "`after` (from the start without one). Follow `next` until it is null; `cursor` is where to resume when "
    "polling later. Events younger than about ten seconds appear on a later page.",
    parameters=[
        *ERROR_HEADERS,
        OpenApiParameter("after", str, description="From `next` or `cursor` of the previous page."),
        OpenApiParameter("limit", int, description="Items per page, 1 to 500 (default 100)."),
    ],
    responses={200: serializers.EventsPageSerializer, **_errors(400, 401, 403, 429, 503)},
    tags=["events"],
)
@extend_schema(
    methods=["POST"],
    operation_id="events_create",
    parameters=ERROR_HEADERS,
    summary="Post up to 500 scan events",
    description="Every item is answered `accepted`, `duplicate` (its id was sent before: nothing changes) "
    "or `rejected` (with errors by field). Events older than the current milestone join the timeline "
    "without moving it back.",
    request=serializers.EventsInSerializer,
    responses={200: serializers.EventsResultSerializer, **_errors(400, 401, 403, 413, 415, 429, 503)},
    tags=["events"],
)
@api_view(["GET", "POST"])
@permission_classes([HasPartnerToken])
def events(request) -> Response:
    if request.method == "GET":
        return feeds.events_after(request, partner=request.auth.partner)
    return _events_create(request)


def _events_create(request) -> Response:
    data = request.data
    if not isinstance(data, dict) or "events" not in data:
        raise ApiError(400, "invalid", 'Send {"events": [...]}.', {"events": ["This field is required."]})
    items = data["events"]
    limit = serializers.MAX_EVENTS_PER_INGEST
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        message = f"Send a list of 1 to {limit} events."
        raise ApiError(400, "invalid", message, {"events": [message]})
    _lookup_allowed(request)
    results = events_ingest(partner=request.auth.partner, items=items, source=EventSource.API, token=request.auth)
    # An event for a number this partner may not write is answered as an unknown number: a miss.
    misses = sum(
        1
        for result in results
        if any(m.startswith("No shipment has") for m in result.get("errors", {}).get("tracking_number", ()))
    )
    budget.lookup_charge(request, misses=misses)
    _note_lookup_policy(request)
    counts = {status: 0 for status in ("accepted", "duplicate", "rejected")}
    for result in results:
        counts[result["status"]] += 1
    return Response({"results": results, **counts})


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def not_found(request, *args, **kwargs) -> Response:
    raise ApiError(404, "not_found", f"No API endpoint at {request.path}; see /api/docs/.")
