"""Test-only views of the live app: write a shipment's reference, read it back.

They exist because the public pages only read and the admin hides where its reads go; these
make "a write then reads in the same request" observable. Mounted by tests/live_urls.py only.
"""

from django.db import connections, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from phoenix.db import use_writer
from phoenix.db.pinning import pin_key
from tracking.models import Shipment


@require_GET
def reference_read(request: HttpRequest, number: str) -> JsonResponse:
    """Return the reference as the routing reads it (``?use_writer=1`` inside use_writer(),
    ``?atomic=1`` inside a transaction, ``?key=K`` declares the client identity K with pin_key())."""
    if request.GET.get("key"):
        pin_key(request, request.GET["key"])
    if request.GET.get("use_writer"):
        with use_writer():
            shipment = Shipment.objects.get(tracking_number=number)
    elif request.GET.get("atomic"):
        with transaction.atomic():
            shipment = Shipment.objects.get(tracking_number=number)
    else:
        shipment = Shipment.objects.get(tracking_number=number)
    return JsonResponse({"reference": shipment.reference})


@csrf_exempt
@require_POST
def reference_write(request: HttpRequest, number: str) -> JsonResponse:
    """Change the reference (through the ORM, or a raw cursor with ``raw=1``), then read it back.

    ``key=K`` declares the client identity K with pin_key().
    """
    reference = request.POST["reference"]
    if request.POST.get("key"):
        pin_key(request, request.POST["key"])
    if request.POST.get("raw"):
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "UPDATE tracking_shipment SET reference = %s WHERE tracking_number = %s", [reference, number]
            )
    else:
        Shipment.objects.filter(tracking_number=number).update(reference=reference)
    read_back = Shipment.objects.get(tracking_number=number).reference
    return JsonResponse({"reference": read_back})


@require_GET
def session_touch(request: HttpRequest) -> JsonResponse:
    """Read a page that also changes the session (as "recently viewed" lists do)."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse({"visits": request.session["visits"]})


@require_GET
def sleep(request: HttpRequest) -> JsonResponse:
    """Run ``SELECT SLEEP(seconds)`` on ``alias`` (default the reader): a runaway statement on demand."""
    alias = request.GET.get("alias", "reader")
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT SLEEP(%s)", [float(request.GET.get("seconds", "1"))])
        (slept,) = cursor.fetchone()
    return JsonResponse({"slept": slept})


@require_GET
def hold(request: HttpRequest) -> JsonResponse:
    """Wait (at most 60 s) for the named lock ``?name=`` on the writer, which a test holds: a
    request that keeps its thread for exactly as long as the test wants."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 60)", [request.GET["name"]])
        (got,) = cursor.fetchone()
        cursor.execute("SELECT RELEASE_LOCK(%s)", [request.GET["name"]])
    return JsonResponse({"got": got})
