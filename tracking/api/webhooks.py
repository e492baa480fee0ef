"""Webhook self-service under ``/api/v1/webhooks`` (docs/api.md, Webhooks).

A partner registers, lists, changes, deletes and pings its own endpoints, rotates a signing
secret (the previous one keeps signing for up to 24 h) and lists and replays failed
deliveries, through the functions the admin uses (tracking/notify/webhooks.py for registration
and the URL rules, tracking/notify/outbox.py for replays). Another partner's endpoint answers
``404`` exactly like one that does not exist. A secret is in the answer to its creation or
rotation only.
"""

import json
import logging
import uuid
from datetime import timedelta

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from tracking.api.auth import HasPartnerToken
from tracking.api.errors import ApiError
from tracking.api.feeds import page_limit, page_response
from tracking.api.views import ERROR_HEADERS, _errors
from tracking.models import OutboxStatus, WebhookDelivery, WebhookEndpoint
from tracking.notify import outbox, webhooks

logger = logging.getLogger(__name__)

MAX_OVERLAP_HOURS = int(webhooks.SECRET_OVERLAP.total_seconds() // 3600)
DELIVERY_STATUSES = [OutboxStatus.FAILED, OutboxStatus.PENDING, OutboxStatus.SENT]


# --- Payloads -----------------------------------------------------------------------------


class WebhookInSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="https:// on port 443, to a public address.")
    topics = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.Topic.choices),
        min_length=1,
        max_length=len(WebhookEndpoint.Topic.values),
        help_text="Events wanted: milestone, exception, scan.",
    )


class WebhookChangeSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False)
    topics = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.Topic.choices),
        min_length=1,
        max_length=len(WebhookEndpoint.Topic.values),
        required=False,
    )
    is_active = serializers.BooleanField(
        required=False,
        help_text="false stops deliveries; true re-enables an endpoint and queues its failed deliveries again.",
    )


class RotateInSerializer(serializers.Serializer):
    previous_valid_hours = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OVERLAP_HOURS,
        required=False,
        default=MAX_OVERLAP_HOURS,
        help_text="How long the previous secret keeps signing beside the new one; 0 stops it at once.",
    )


class WebhookOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    topics = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEndpoint.Topic.choices))
    is_active = serializers.BooleanField()
    failing_since = serializers.DateTimeField(allow_null=True, help_text="First failure since the last success.")
    disabled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    previous_secret_valid_until = serializers.DateTimeField(
        allow_null=True, help_text="While set, deliveries are signed with the previous secret too."
    )


class WebhookWithSecretSerializer(WebhookOutSerializer):
    secret = serializers.CharField(help_text="The signing secret: shown in this answer only.")


class WebhookListSerializer(serializers.Serializer):
    webhooks = WebhookOutSerializer(many=True)


class PingSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The ping's id (also in QualityPost-Event-Id).")
    delivered = serializers.BooleanField(help_text="Your endpoint answered 2xx.")
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class DeliveryOutSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The delivery's id: `id` in its body; the same on every retry and replay.")
    type = serializers.CharField()
    sequence = serializers.IntegerField()
    tracking_number = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in DELIVERY_STATUSES] + ["claimed", "sending"])
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField()


class DeliveriesPageSerializer(serializers.Serializer):
    deliveries = DeliveryOutSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Deliveries queued to be sent again.")


def _webhook(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    body = {
        "id": endpoint.pk,
        "url": endpoint.url,
        "topics": endpoint.topics,
        "is_active": endpoint.is_active,
        "failing_since": endpoint.failing_since,
        "disabled_at": endpoint.disabled_at,
        "created_at": endpoint.created_at,
        "previous_secret_valid_until": endpoint.previous_secret_until if endpoint.previous_secret_encrypted else None,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def _delivery(row: WebhookDelivery) -> dict:
    payload = json.loads(row.payload)
    return {
        "id": str(row.uuid),
        "type": payload["type"],
        "sequence": row.sequence,
        "tracking_number": payload["data"]["tracking_number"],
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at,
    }


# --- Access -------------------------------------------------------------------------------


def _own_endpoint(request, id: int) -> WebhookEndpoint:
    """Return the partner's endpoint ``id``; another partner's answers as an unknown one."""
    endpoint = WebhookEndpoint.objects.filter(pk=id, partner=request.auth.partner).first()
    if endpoint is None:
        raise ApiError(404, "not_found", f"You have no webhook with the id {id}.")
    return endpoint


def _valid(serializer_class, request):
    data = request.data if _has_body(request) else None
    serializer = serializer_class(data={} if data is None else data)  # no body (or null): the defaults
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _has_body(request) -> bool:
    return request.META.get("CONTENT_LENGTH", "") not in ("", "0") or "chunked" in request.META.get(
        "HTTP_TRANSFER_ENCODING", ""
    )


def _refused(exc: ValidationError, field: str) -> ApiError:
    return ApiError(400, "invalid", "The request has errors; see fields for each one.", {field: exc.messages})


def _not_sendable(endpoint: WebhookEndpoint) -> ApiError:
    if not endpoint.is_active:
        return ApiError(
            409,
            "webhook_disabled",
            'This webhook is disabled; PATCH {"is_active": true} re-enables it and replays its failed deliveries.',
        )
    return ApiError(409, "in_flight", "This delivery is being sent right now; look again in a moment.")


TAGS = ["webhooks"]
CONFLICT = OpenApiResponse(
    _errors(400)[400].response, description="The webhook is disabled, or the delivery is being sent right now."
)


# --- Views --------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="webhooks_list",
    summary="Your webhooks",
    parameters=ERROR_HEADERS,
    responses={200: WebhookListSerializer, **_errors(401, 403, 429, 503)},
    tags=TAGS,
)
@extend_schema(
    methods=["POST"],
    operation_id="webhooks_create",
    summary="Register a webhook",
    description="The answer carries the signing secret (`whsec_...`), shown this once; store it. The URL must be "
    "https:// on port 443 and resolve only to public addresses.",
    parameters=ERROR_HEADERS,
    request=WebhookInSerializer,
    responses={201: WebhookWithSecretSerializer, **_errors(400, 401, 403, 413, 415, 429, 503)},
    tags=TAGS,
)
@api_view(["GET", "POST"])
@permission_classes([HasPartnerToken])
def webhooks_collection(request) -> Response:
    partner = request.auth.partner
    if request.method == "GET":
        endpoints = WebhookEndpoint.objects.filter(partner=partner).order_by("pk")
        return Response({"webhooks": [_webhook(endpoint) for endpoint in endpoints]})
    data = _valid(WebhookInSerializer, request)
    try:
        endpoint, secret = webhooks.endpoint_create(partner=partner, url=data["url"], topics=data["topics"])
    except ValidationError as exc:
        raise _refused(exc, "topics" if exc.code == "topics" else "url") from None
    return Response(_webhook(endpoint, secret), status=201)


@extend_schema(
    methods=["GET"],
    operation_id="webhooks_retrieve",
    summary="One of your webhooks",
    parameters=ERROR_HEADERS,
    responses={200: WebhookOutSerializer, **_errors(401, 403, 404, 429, 503)},
    tags=TAGS,
)
@extend_schema(
    methods=["PATCH"],
    operation_id="webhooks_update",
    summary="Change a webhook",
    description="Any of `url`, `topics`, `is_active`. The URL follows the rules of registration. `is_active: "
    "true` on a disabled webhook checks its URL again, re-enables it and queues its failed deliveries again.",
    parameters=ERROR_HEADERS,
    request=WebhookChangeSerializer,
    responses={200: WebhookOutSerializer, **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
    tags=TAGS,
)
@extend_schema(
    methods=["DELETE"],
    operation_id="webhooks_destroy",
    summary="Delete a webhook",
    description="Deletes the webhook and its deliveries, sent or not.",
    parameters=ERROR_HEADERS,
    responses={204: OpenApiResponse(description="Deleted."), **_errors(401, 403, 404, 429, 503)},
    tags=TAGS,
)
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([HasPartnerToken])
def webhook_detail(request, id: int) -> Response:
    endpoint = _own_endpoint(request, id)
    if request.method == "GET":
        return Response(_webhook(endpoint))
    if request.method == "DELETE":
        endpoint.delete()
        logger.info("webhook endpoint %s deleted by its partner", id)
        return Response(status=204)
    data = _valid(WebhookChangeSerializer, request)
    try:
        webhooks.endpoint_update(endpoint=endpoint, url=data.get("url"), topics=data.get("topics"))
        if data.get("is_active") is True and not endpoint.is_active:
            webhooks.url_check(endpoint.url)
            outbox.endpoint_enable(endpoint=endpoint)
        elif data.get("is_active") is False and endpoint.is_active:
            webhooks.endpoint_disable(endpoint=endpoint)
    except ValidationError as exc:
        raise _refused(exc, "topics" if exc.code == "topics" else "url") from None
    endpoint.refresh_from_db()
    return Response(_webhook(endpoint))


@extend_schema(
    operation_id="webhooks_ping",
    summary="Send a signed test delivery now",
    description='POSTs `{"id", "type": "webhook.ping", "created_at", "data": {"webhook_id", "url"}}` '
    "to the webhook, signed like every delivery, and answers what the endpoint answered (within the delivery "
    "deadline). Nothing is stored or retried; a failed ping does not count towards disabling the webhook.",
    parameters=ERROR_HEADERS,
    request=None,
    responses={200: PingSerializer, **_errors(401, 403, 404, 429, 503)},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes([HasPartnerToken])
def webhook_ping(request, id: int) -> Response:
    endpoint = _own_endpoint(request, id)
    event_id, outcome = webhooks.endpoint_ping(endpoint=endpoint)
    return Response({"id": event_id, "delivered": outcome.ok, "status_code": outcome.status, "error": outcome.error})


@extend_schema(
    operation_id="webhooks_rotate_secret",
    summary="Rotate the signing secret",
    description="Answers the new secret, shown this once. Until `previous_secret_valid_until` (24 h by default) "
    "every delivery carries two signatures, `v1=<new>,v1=<previous>`, so switch your receiver at any time in "
    "between. `previous_valid_hours: 0` stops the previous secret at once (a secret that leaked).",
    parameters=ERROR_HEADERS,
    request=RotateInSerializer,
    responses={200: WebhookWithSecretSerializer, **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes([HasPartnerToken])
def webhook_rotate_secret(request, id: int) -> Response:
    endpoint = _own_endpoint(request, id)
    data = _valid(RotateInSerializer, request)
    secret = webhooks.endpoint_secret_rotate(endpoint=endpoint, overlap=timedelta(hours=data["previous_valid_hours"]))
    return Response(_webhook(endpoint, secret))


@extend_schema(
    operation_id="webhooks_deliveries",
    summary="Deliveries of a webhook (failed ones by default)",
    description="Newest first, keyset pages of at most 500 (`next`, also in a `Link` header).",
    parameters=[
        *ERROR_HEADERS,
        OpenApiParameter("status", str, enum=[s.value for s in DELIVERY_STATUSES], description="Default failed."),
        OpenApiParameter("before", str, description="From `next`: where the previous page ended."),
        OpenApiParameter("limit", int, description="Items per page, 1 to 500 (default 100)."),
    ],
    responses={200: DeliveriesPageSerializer, **_errors(400, 401, 403, 404, 429, 503)},
    tags=TAGS,
)
@api_view(["GET"])
@permission_classes([HasPartnerToken])
def webhook_deliveries(request, id: int) -> Response:
    endpoint = _own_endpoint(request, id)
    limit = page_limit(request)
    status = request.query_params.get("status", OutboxStatus.FAILED)
    if status not in DELIVERY_STATUSES:
        message = f"Give one of {', '.join(DELIVERY_STATUSES)}."
        raise ApiError(400, "invalid", message, {"status": [message]})
    rows = WebhookDelivery.objects.filter(endpoint=endpoint, status=status)
    before = request.query_params.get("before")
    if before is not None:
        if not (before.isascii() and before.isdigit()):
            message = "This cursor is not one Phoenix gave out; use the next link of the previous page."
            raise ApiError(400, "invalid_cursor", message, {"before": [message]})
        rows = rows.filter(pk__lt=int(before))
    page = list(rows.order_by("-pk")[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    cursor = str(page[-1].pk) if more else None
    return page_response(request, {"deliveries": [_delivery(row) for row in page]}, cursor, "before", limit)


def _replay_view(operation_id: str, summary: str, description: str):
    """Decorate a replay view: its schema, POST only, a partner token."""

    def decorate(view):
        schema = extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description,
            parameters=ERROR_HEADERS,
            request=None,
            responses={202: QueuedSerializer, **_errors(401, 403, 404, 429, 503), 409: CONFLICT},
            tags=TAGS,
        )
        return schema(api_view(["POST"])(permission_classes([HasPartnerToken])(view)))

    return decorate


@_replay_view(
    "webhooks_delivery_replay",
    "Send one delivery again",
    "Queues the delivery (failed or already sent) to be sent again: the same body and `id`, a fresh "
    "signature. `409` while it is being sent or while the webhook is disabled.",
)
def webhook_delivery_replay(request, id: int, delivery: str) -> Response:
    endpoint = _own_endpoint(request, id)
    row = WebhookDelivery.objects.filter(uuid=delivery, endpoint=endpoint).first() if _uuid(delivery) else None
    if row is None:
        raise ApiError(404, "not_found", f"This webhook has no delivery with the id {delivery}.")
    queued = outbox.deliveries_replay(deliveries=[row])
    if not queued:
        raise _not_sendable(endpoint)
    return Response({"queued": queued}, status=202)


@_replay_view(
    "webhooks_replay_failed",
    "Send every failed delivery again",
    "Queues every failed delivery of the webhook again, oldest first. `409` while the webhook is "
    'disabled (PATCH `{"is_active": true}` re-enables it and replays them).',
)
def webhook_replay_failed(request, id: int) -> Response:
    endpoint = _own_endpoint(request, id)
    if not endpoint.is_active:
        raise _not_sendable(endpoint)
    failed = list(WebhookDelivery.objects.filter(endpoint=endpoint, status=OutboxStatus.FAILED).only("pk"))
    return Response({"queued": outbox.deliveries_replay(deliveries=failed)}, status=202)


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
