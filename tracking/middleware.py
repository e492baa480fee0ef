"""Staff in the admin read from the writer, so they always see their own changes."""

from django.http import HttpRequest
from django.urls import reverse

from phoenix.db import use_writer


class AdminOnWriterMiddleware:
    """Serve every admin request from the writer, whatever the replica's lag.

    The pin cookie covers a few seconds after a write from the same browser; staff, who change
    a shipment and come back to it minutes later or from another device, must never see the
    replica's older copy. Admin traffic is small next to the public pages and the API, and
    the change list's queries are index lookups, so the writer carries it easily.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = reverse("admin:index")

    def __call__(self, request: HttpRequest):
        if request.path.startswith(self.prefix):
            with use_writer():
                return self.get_response(request)
        return self.get_response(request)
