from django.http import HttpRequest, HttpResponse

FLOOR_BODY = b"<!doctype html><title>floor</title><p>" + b"x" * 2000 + b"</p>\n"


def bench_floor(request: HttpRequest) -> HttpResponse:
    """Return a fixed body through the full middleware stack: the benchmark's floor."""
    return HttpResponse(FLOOR_BODY)
