"""The partner API's one error shape, and the JSON parser that enforces the body size limit.

Every client mistake answers ``{"error": {"code": ..., "message": ..., "fields": {...}}}``
with a 4xx status: validation errors, bad JSON, wrong media type, unknown paths, methods,
missing or bad tokens, throttling. ``fields`` maps a dotted path (``recipient.name``,
``1.weight_grams``) to a list of messages.
"""

import io
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

logger = logging.getLogger(__name__)


# No request of the API needs more than a few levels ({"events": [{...}]}, a shipment with its
# recipient): anything deeper is refused with a 400 rather than left to recursion limits.
MAX_JSON_DEPTH = 32


class ApiError(exceptions.APIException):
    """A client error with our own code, message and (optional) field errors."""

    def __init__(self, status_code: int, code: str, message: str, fields: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


class LimitedJSONParser(JSONParser):
    """JSON parser that refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE.

    DRF reads the request stream itself, past Django's own size check, so the limit is
    applied here (on Content-Length and on the bytes actually read, for chunked bodies).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes; send fewer items per request.")
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes; send fewer items per request.")
        if not body:
            raise exceptions.ParseError("The request body is empty; send a JSON object.")
        too_deep = f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep; send a flatter document."
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except UnicodeDecodeError:
            raise exceptions.ParseError("The request body is not UTF-8 encoded JSON.") from None
        except RecursionError:  # the decoder's own limit, far below what a process can spare
            raise exceptions.ParseError(too_deep) from None
        if json_depth(data) > MAX_JSON_DEPTH:
            # Parsed, but every later step that walks it (serializers, hashing, error
            # flattening) recurses too: refuse it here, in the one error shape.
            raise exceptions.ParseError(too_deep)
        return data


def json_depth(data) -> int:
    """Return how many arrays and objects deep ``data`` nests (iteratively: no recursion)."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Return DRF's nested error detail as ``{"dotted.path": [messages]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = prefix if key in ("non_field_errors",) and prefix else f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, path).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            path = f"{prefix}.{index}" if prefix else str(index)
            for field, messages in flatten_errors(item, path).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def error_response(status_code: int, code: str, message: str, fields: dict | None = None, headers=None) -> Response:
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return Response(body, status=status_code, headers=headers)


def exception_handler(exc, context):
    """DRF exception handler: every error in the one shape, never an HTML page."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = RequestTooLarge(f"The request body is larger than {limit} bytes; send fewer items per request.")
    if isinstance(exc, DatabaseError):
        # Leave database failures to phoenix/db, which answers 503 with Retry-After.
        return None
    if not isinstance(exc, exceptions.APIException):
        logger.exception("unexpected error in the partner API", exc_info=exc)
        return error_response(500, "server_error", "Something went wrong on our side; the request may be retried.")

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait + 0.999))
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.error_code, str(exc.detail), exc.fields, headers)
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        return error_response(
            exc.status_code, "invalid", "The request has errors; see fields for each one.", fields, headers
        )
    code = exc.default_code
    if isinstance(exc, exceptions.Throttled):
        message = f"Too many requests; retry after {headers.get('Retry-After', 'a few')} seconds."
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, headers=headers)
