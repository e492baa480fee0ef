from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from tracking import numbers
from tracking.models import Shipment


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tracking/home.html")


def track(request: HttpRequest) -> HttpResponse:
    tokens = numbers.split_many(request.GET.get("numbers", ""))[:25]
    results = []
    for token in tokens:
        try:
            number = numbers.parse(token)
        except numbers.InvalidTrackingNumber as exc:
            results.append({"input": token, "error": exc.reason})
            continue
        results.append({"input": token, "shipment": Shipment.objects.filter(tracking_number=number).first()})
    return render(request, "tracking/results.html", {"results": results})


def detail(request: HttpRequest, number: str) -> HttpResponse:
    try:
        canonical = numbers.parse(number)
    except numbers.InvalidTrackingNumber:
        return render(
            request, "tracking/results.html", {"results": [{"input": number, "error": "check_digit"}]}, status=404
        )
    if canonical != number:
        return redirect("tracking:detail", canonical)
    shipment = get_object_or_404(Shipment, tracking_number=canonical)
    events = shipment.events.select_related("facility").order_by("-occurred_at")
    return render(request, "tracking/detail.html", {"shipment": shipment, "events": events})
