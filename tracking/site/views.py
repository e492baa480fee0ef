"""Public tracking pages: lookup form, results for up to 25 numbers, one shipment's page."""

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from tracking import budget, numbers
from tracking.site import lookup, pagecache, unlock
from tracking.site.forms import LookupForm, PostalCodeForm
from tracking.site.templating import render

logger = logging.getLogger(__name__)

PUBLIC_MAX_AGE = 60
# The public page's empty postal-code form: unbound, never changed, so one serves every page
# (its label is translated when the page is rendered).
_NO_CODE = PostalCodeForm()


def _public(response: HttpResponse, etag: str | None = None, max_age: int = PUBLIC_MAX_AGE) -> HttpResponse:
    """Mark a page without personal data as cacheable for a minute, per language."""
    if etag:
        response.headers["ETag"] = etag
    patch_cache_control(response, public=True, max_age=max_age)
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


def _private(response: HttpResponse) -> HttpResponse:
    """Keep a page with personal data (or a postal-code attempt) out of every cache."""
    patch_cache_control(response, private=True, no_store=True)
    return response


def _not_modified(request: HttpRequest, etag: str, max_age: int = PUBLIC_MAX_AGE) -> HttpResponse | None:
    response = get_conditional_response(request, etag=etag)
    return _public(response, etag, max_age) if response is not None else None


def _from_cache(request: HttpRequest, page: pagecache.CachedPage) -> HttpResponse:
    """Answer with a page rendered for an earlier visitor (see tracking/site/pagecache.py)."""
    max_age = page.max_age(PUBLIC_MAX_AGE)
    if not_modified := _not_modified(request, page.etag, max_age):
        return not_modified
    return _public(HttpResponse(page.body, content_type=page.content_type), page.etag, max_age)


def _too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    response = render(request, "tracking/too_many.html", {"minutes": (retry_after + 59) // 60}, status=429)
    response.headers["Retry-After"] = str(retry_after)
    return _private(response)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return _public(render(request, "tracking/home.html", {"form": LookupForm()}))


@require_safe
def track(request: HttpRequest) -> HttpResponse:
    if "numbers" not in request.GET:
        return redirect("tracking:home")
    form = LookupForm(request.GET)
    if not form.is_valid():
        return _private(render(request, "tracking/home.html", {"form": form}, status=400))
    entries = form.cleaned_data["numbers"]
    if len(entries) == 1 and entries[0].number:
        return redirect("tracking:detail", entries[0].number)
    if retry_after := budget.lookup_retry_after(request):
        return _too_many(request, retry_after)

    found = lookup.shipments_many([entry.number for entry in entries if entry.number])
    misses = sum(1 for entry in entries if entry.number and entry.number not in found)
    budget.lookup_charge(request, hits=len(found), misses=misses)
    etag = lookup.etag([f"{e.number}|{e.input}" for e in entries], list(found.values()))
    if not_modified := _not_modified(request, etag):
        return not_modified

    results = []
    for entry in entries:
        shipment = found.get(entry.number)
        problem = entry.problem or ("" if shipment else "unknown")
        results.append({"entry": entry, "shipment": shipment, "problem": lookup.PROBLEMS.get(problem)})
    context = {
        "results": results,
        "found": len(found),
        "missing": len(entries) - len(found),
        "form": LookupForm(initial={"numbers": request.GET["numbers"]}),
    }
    return _public(render(request, "tracking/results.html", context), etag)


# The unlock is a POST, so that the postal code sits in no URL, log or history. It is exempt
# from CSRF: it changes nothing a forged cross-site POST could use (its answer goes to the
# sender's own browser), and a CSRF token would give the public, cached page a cookie.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def detail(request: HttpRequest, number: str) -> HttpResponse:
    try:
        canonical = numbers.parse(number)
    except numbers.InvalidTrackingNumber as exc:
        return _not_found(request, number, exc.reason)
    if canonical != number and request.method != "POST":
        url = reverse("tracking:detail", args=[canonical])
        query = request.GET.urlencode()
        return redirect(f"{url}?{query}" if query else url, permanent=True)

    if retry_after := budget.lookup_retry_after(request):
        return _too_many(request, retry_after)
    if request.method == "POST":
        return _unlock(request, canonical)
    if "postal_code" in request.GET:
        return _code_in_link(request, canonical)
    if cached := pagecache.get(request, canonical):
        budget.lookup_charge(request, hits=1)
        return _from_cache(request, cached)
    return _public_page(request, canonical)


def _unlock(request: HttpRequest, number: str) -> HttpResponse:
    """A postal-code attempt: never cached; a wrong code costs as much as an unknown number and
    counts against the shipment's lockout (tracking/unlock.py)."""
    shipment = lookup.shipment_find(number, with_recipient=True)
    if shipment is None:
        budget.lookup_charge(request, misses=1)
        return _not_found(request, number, "unknown")
    form = PostalCodeForm(request.POST)
    if not form.is_valid():
        budget.lookup_charge(request, hits=1)
        return _private(_shipment_page(request, shipment, form, status=400))
    matches = shipment.postal_code_matches(form.cleaned_data["postal_code"])
    budget.lookup_charge(request, hits=1 if matches else 0, misses=0 if matches else 1)
    verdict = unlock.attempt(shipment, matches)
    if verdict.locked_seconds:
        minutes = (verdict.locked_seconds + 59) // 60
        form.add_error("postal_code", PostalCodeForm.locked_message(minutes))
        response = _shipment_page(request, shipment, form, status=429)
        response.headers["Retry-After"] = str(verdict.locked_seconds)
        return _private(response)
    if not verdict.unlocked:
        form.add_error("postal_code", PostalCodeForm.wrong_code)
        return _private(_shipment_page(request, shipment, form, status=403))
    return _private(_shipment_page(request, shipment, form, unlocked=True))


def _code_in_link(request: HttpRequest, number: str) -> HttpResponse:
    """An old link or bookmark with ``?postal_code=``: the code is no longer read from URLs.

    The page asks for it in the form; the code in the link is neither checked nor echoed.
    """
    shipment = lookup.shipment_find(number)
    if shipment is None:
        budget.lookup_charge(request, misses=1)
        return _not_found(request, number, "unknown")
    budget.lookup_charge(request, hits=1)
    form = PostalCodeForm(data={})
    form.is_valid()
    form.errors["postal_code"] = form.error_class([PostalCodeForm.code_in_link])
    return _private(_shipment_page(request, shipment, form))


def _public_page(request: HttpRequest, number: str) -> HttpResponse:
    """The page anybody with the number sees: one read, cached (see tracking/site/pagecache.py)."""
    found = lookup.public_page(number)
    if found is None:
        budget.lookup_charge(request, misses=1)
        return _not_found(request, number, "unknown")
    budget.lookup_charge(request, hits=1)
    public, events = found
    etag = lookup.etag([number], [public])
    if not_modified := _not_modified(request, etag):
        return not_modified
    response = _public(_render_page(request, public, events, _NO_CODE), etag)
    pagecache.put(request, number, response, etag, PUBLIC_MAX_AGE)
    return response


def _shipment_page(
    request: HttpRequest, shipment, unlock: PostalCodeForm, *, unlocked: bool = False, status: int = 200
) -> HttpResponse:
    events = lookup.timeline(shipment)
    public, public_events = lookup.shipment_public(shipment, events)
    private = lookup.shipment_private(shipment, events) if unlocked else None
    return _render_page(request, public, public_events, unlock, private=private, status=status)


def _render_page(request, public, events, unlock: PostalCodeForm, *, private=None, status: int = 200) -> HttpResponse:
    context = {
        "shipment": public,
        "events": events,
        "timeline": lookup.timeline_rows(events),
        "steps": lookup.progress_once(public.milestone),
        "next_step": lookup.next_step(public),
        "unlock": unlock,
        "private": private,
    }
    return render(request, "tracking/detail.html", context, status=status)


def _not_found(request: HttpRequest, number: str, problem: str) -> HttpResponse:
    context = {"number": number, "problem": lookup.PROBLEMS[problem], "form": LookupForm(initial={"numbers": number})}
    return _private(render(request, "tracking/not_found.html", context, status=404))
