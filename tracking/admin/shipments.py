"""Staff operations in the Django admin.

The shipment change list must stay fast with millions of rows: searches are exact or prefix
lookups on indexed columns, the ordering follows an index, filters need no queries over the
shipment table, and the paginator counts at most ``COUNT_CAP`` rows instead of the whole table.
Every change to a shipment's state goes through ``tracking.services`` (``event_record``), so
the admin, the API and CSV imports obey the same forward-only milestone rules.
"""

import logging
import re

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportExportMixin, ImportMixin
from import_export.formats.base_formats import CSV
from simple_history.admin import SimpleHistoryAdmin
from simple_history.utils import update_change_reason

from tracking import numbers
from tracking.admin.forms import ExceptionCloseForm, ExceptionOpenForm, ProofOfDeliveryForm, ScanForm
from tracking.admin.resources import (
    EventImportResource,
    ShipmentExportResource,
    ShipmentExportWithContactsResource,
    ShipmentImportResource,
)
from tracking.images import proof_response
from tracking.models import (
    Contact,
    EventSource,
    Facility,
    Partner,
    PartnerScope,
    ProofOfDelivery,
    Shipment,
    TrackingEvent,
    UnlockGuard,
)
from tracking.services import event_record, proof_of_delivery_attach

logger = logging.getLogger(__name__)

# The change list counts at most this many rows ("10,000+ shipments") rather than COUNT(*) of all.
COUNT_CAP = 10_000
# Name and phone searches return at most this many shipments (newest first).
SEARCH_CAP = 1_000
# An action applies to at most this many shipments at once.
ACTION_CAP = 500
# An export writes at most this many rows; filter the list first.
EXPORT_CAP = 50_000

_PHONE_LIKE = re.compile(r"\+?[\d\s\-().]+")


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``COUNT_CAP + 1`` rows (an index range scan, not the table).

    The count drops the ordering, so the server may read whichever index fits the filter
    (e.g. the facility's foreign-key index) instead of walking the created_at index.
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        """True when there are more rows than were counted (the template says "more than")."""
        return self.count > self.cap


class NewestFirstChangeList(ChangeList):
    """A change list ordered by ``-created_at`` alone, as the descending index stores it.

    Django appends ``-pk`` to make the order total; ``ORDER BY created_at DESC, id DESC`` cannot
    be read from an index declared ``created_at DESC`` (the primary key suffix ascends), so the
    server would sort the whole table. Two shipments created in the same microsecond may swap
    places between pages; that is the price.
    """

    def _get_deterministic_ordering(self, ordering):
        return ordering


def _phone_candidates(term: str) -> tuple[str, list[str]]:
    """Return the typed phone prefix and the stored forms a full national number can take.

    Phones are stored as written by the API and seeding (``+52 33 1234 5678``); a search for
    ``3312345678`` or ``+523312345678`` should find that row with an exact, indexed lookup.
    """
    digits = re.sub(r"\D", "", term)
    full: list[str] = []
    if len(digits) == 10:
        full += [f"+52 {digits[:2]} {digits[2:6]} {digits[6:]}", f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}"]
    elif len(digits) == 12 and digits.startswith("52"):
        full.append(f"+52 {digits[2:4]} {digits[4:8]} {digits[8:]}")
    elif len(digits) == 11 and digits.startswith("1"):
        full.append(f"+1 {digits[1:4]} {digits[4:7]} {digits[7:]}")
    return " ".join(term.split()), full


def _by_tracking_number(queryset, term: str):
    """Return the rows of the shipment whose number is ``term`` (an indexed join), or none."""
    if not term.strip():
        return queryset
    try:
        return queryset.filter(shipment__tracking_number=numbers.parse(term))
    except numbers.InvalidTrackingNumber:
        return queryset.none()


class ContactInline(admin.StackedInline):
    model = Contact
    extra = 0
    max_num = 2
    can_delete = False
    fields = [("role", "name"), ("phone", "email"), "address", ("city", "state", "postal_code", "country")]
    readonly_fields = ["role"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class TrackingEventInline(admin.TabularInline):
    """The timeline: existing events are read-only; a new row is recorded through event_record."""

    model = TrackingEvent
    extra = 1
    fields = [
        "occurred_at",
        "code",
        "milestone",
        "facility",
        "reason",
        "close_exception",
        "note",
        "source",
        "created_by",
    ]
    readonly_fields = ["milestone", "source", "created_by"]
    ordering = ["-occurred_at", "-id"]
    verbose_name_plural = gettext_lazy("timeline")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("facility", "created_by")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ProofOfDeliveryInline(admin.TabularInline):
    model = ProofOfDelivery
    form = ProofOfDeliveryForm
    extra = 0
    fields = ["kind", "upload", "uploaded_by", "uploaded_at"]
    readonly_fields = ["uploaded_by", "uploaded_at"]
    verbose_name_plural = gettext_lazy("proof of delivery")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("image"))
    def upload(self, proof: ProofOfDelivery) -> str:
        """Link to the staff-only file view (never the storage's own URL)."""
        url = reverse("admin:tracking_proofofdelivery_file", args=[proof.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("View"))


class SafeImportConfirmMixin:
    """Answer a tampered or stale import confirmation with a clear message, never a 500.

    The confirmation page posts back hidden fields (the stored file's name, the format and the
    resource); django-import-export trusts them and fails with FileNotFoundError or IndexError
    when they were changed (a 400 page), or when the stored file is gone: a double click or
    Back-and-confirm after the rows were imported, or an upload that expired (a message on the
    upload page; nothing was imported now). The file waits on disk or in the media bucket.
    """

    def process_import(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_confirm_form(request)
        problem = self._confirmation_problem(request, form) if form.is_valid() else None
        if problem == "tampered":
            logger.warning("import confirmation for %s refused: tampered", self.model._meta.model_name)
            context = {
                **self.admin_site.each_context(request),
                "title": _("Import"),
                "opts": self.model._meta,
                "message": _("This import confirmation is not valid any more; upload the file again."),
                "import_url": self._import_url(),
            }
            return TemplateResponse(request, "admin/tracking/import_invalid.html", context, status=400)
        if problem == "gone":
            return self._nothing_imported(request)
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:  # a concurrent confirmation imported it a moment ago
            return self._nothing_imported(request)

    def _nothing_imported(self, request) -> HttpResponse:
        """Say that the waiting file is gone and nothing was imported now; back to the upload page."""
        self.message_user(
            request,
            _(
                "Nothing was imported now: this file was already imported, or its upload has expired. "
                "Upload it again to import it."
            ),
            messages.ERROR,
        )
        return HttpResponseRedirect(self._import_url())

    def _import_url(self) -> str:
        return reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_import")

    def _confirmation_problem(self, request, form) -> str | None:
        """Return "tampered", "gone" (the waiting file no longer exists) or None."""

        def index(value, count: int) -> bool:
            return str(value).isascii() and str(value).isdigit() and int(value) < count

        if not index(form.cleaned_data["format"], len(self.get_import_formats())):
            return "tampered"
        resource = form.cleaned_data.get("resource") or "0"
        if not index(resource, len(self.get_import_resource_classes(request))):
            return "tampered"
        name = form.cleaned_data["import_file_name"]
        if not re.fullmatch(r"[0-9a-f]{32}", name):  # the names the temporary storage draws
            return "tampered"
        storage = self.get_tmp_storage_class()(name=name, **self.get_tmp_storage_class_kwargs())
        return None if storage._storage.exists(storage.get_full_path()) else "gone"


@admin.register(Shipment)
class ShipmentAdmin(SafeImportConfirmMixin, ImportExportMixin, SimpleHistoryAdmin):
    list_display = [
        "tracking_number",
        "reference",
        "milestone",
        "exception_open",
        "origin_city",
        "destination_city",
        "created_at",
    ]
    # No joins: with a million rows a join to facilities can make the optimizer drive the query
    # from the facility table and sort every shipment. The cities are columns of the row.
    list_select_related = False
    list_filter = [
        "milestone",
        "exception_open",
        "exception_reason",
        "service",
        ("origin_facility", admin.RelatedFieldListFilter),
        ("destination_facility", admin.RelatedFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        ("delivered_at", admin.DateFieldListFilter),
    ]
    # Only orderings an index serves (see Shipment.Meta.indexes and the unique number).
    ordering = ["-created_at"]
    sortable_by = ["tracking_number", "created_at"]
    search_fields = ["tracking_number"]  # shows the box; get_search_results does the work
    search_help_text = gettext_lazy(
        "Tracking number (any spacing), reference, or the recipient's name or phone (beginning)."
    )
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    inlines = [ContactInline, TrackingEventInline, ProofOfDeliveryInline]
    fieldsets = [
        (None, {"fields": ["tracking_number", "partner", "reference", "service", ("weight_grams", "pieces")]}),
        (
            gettext_lazy("Route"),
            {"fields": [("origin_facility", "destination_facility"), "destination_postal_code"]},
        ),
        (
            gettext_lazy("Status"),
            {
                "fields": [
                    ("milestone", "milestone_at"),
                    ("exception_open", "exception_reason", "exception_at"),
                    ("eta_earliest", "eta_latest"),
                    ("delivered_at", "last_event_at"),
                    ("created_at", "updated_at"),
                ]
            },
        ),
    ]
    readonly_fields = [
        "tracking_number",
        "partner",
        "origin_facility",
        "destination_facility",
        "milestone",
        "milestone_at",
        "exception_open",
        "exception_reason",
        "exception_at",
        "delivered_at",
        "last_event_at",
        "created_at",
        "updated_at",
    ]
    actions = ["record_scan", "open_exception", "close_exception"]
    import_formats = [CSV]
    export_formats = [CSV]

    # Creation goes through shipment_create: the API and the CSV import, not a bare form.
    def has_add_permission(self, request) -> bool:
        return False

    def get_changelist(self, request, **kwargs):
        return NewestFirstChangeList

    def has_record_scan_permission(self, request) -> bool:
        return request.user.has_perm("tracking.record_scan")

    def has_manage_exception_permission(self, request) -> bool:
        return request.user.has_perm("tracking.manage_exception")

    def get_urls(self):
        proof = path(
            "proof/<int:pk>/",
            self.admin_site.admin_view(self.proof_file_view),
            name="tracking_proofofdelivery_file",
        )
        return [proof, *super().get_urls()]

    # Search ---------------------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Return shipments matching the term with indexed lookups only (no LIKE '%x%' scans)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        normalized = numbers.normalize(term)
        if normalized.startswith(numbers.PREFIX) and normalized[len(numbers.PREFIX) :].isdigit():
            if len(normalized) >= numbers.LENGTH:
                try:
                    number = numbers.parse(term)
                except numbers.InvalidTrackingNumber:
                    messages.warning(
                        request,
                        _("%(term)s is not a valid tracking number; it was probably mistyped.") % {"term": term},
                    )
                    return queryset.none(), False
                return queryset.filter(tracking_number=number), False
            return queryset.filter(tracking_number__istartswith=normalized), False

        recipients = Contact.objects.filter(role=Contact.Role.RECIPIENT)
        digits = re.sub(r"\D", "", term)
        if not request.user.has_perm("tracking.view_contact"):
            # Without the contact permission (Dispatchers) a search by a recipient's name or
            # phone would tell who receives what: only numbers and references are searched.
            ids = set()
        elif _PHONE_LIKE.fullmatch(term) and len(digits) >= 6:
            typed, full = _phone_candidates(term)
            matches = recipients.filter(phone__istartswith=typed)
            if full:
                matches = matches | recipients.filter(phone__in=full)
            ids = set(matches.order_by().values_list("shipment_id", flat=True)[:SEARCH_CAP])
        else:
            ids = set(
                recipients.filter(name__istartswith=term).order_by().values_list("shipment_id", flat=True)[:SEARCH_CAP]
            )
        ids |= set(
            Shipment.objects.filter(reference__istartswith=term).order_by().values_list("id", flat=True)[:SEARCH_CAP]
        )
        if len(ids) >= SEARCH_CAP:
            messages.info(
                request,
                _("Showing the first %(cap)s matches or so; type more of the name or number to narrow them.")
                % {"cap": SEARCH_CAP},
            )
        return queryset.filter(pk__in=ids), False

    # Timeline inline and proof of delivery ----------------------------------------------------

    def save_formset(self, request, form, formset, change):
        if formset.model is TrackingEvent:
            self._record_inline_events(request, form.instance, formset)
        elif formset.model is ProofOfDelivery:
            self._attach_proofs(request, form.instance, formset)
        else:
            super().save_formset(request, form, formset, change)

    def _record_inline_events(self, request, shipment: Shipment, formset) -> None:
        """Record each new timeline row through event_record (never a bare INSERT or UPDATE)."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.extra_forms:
            if not inline_form.has_changed() or inline_form.cleaned_data.get("DELETE"):
                continue
            data = inline_form.cleaned_data
            event = event_record(
                shipment=shipment,
                code=data["code"],
                occurred_at=data["occurred_at"],
                facility=data.get("facility"),
                reason=data.get("reason") or "",
                close_exception=bool(data.get("close_exception")),
                note=data.get("note") or "",
                source=EventSource.ADMIN,
                created_by=request.user,
            )
            formset.new_objects.append(event)

    def _attach_proofs(self, request, shipment: Shipment, formset) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.extra_forms:
            if not inline_form.has_changed():
                continue
            proof = proof_of_delivery_attach(
                shipment=shipment,
                kind=inline_form.cleaned_data["kind"],
                image=inline_form.cleaned_data["upload"],
                uploaded_by=request.user,
            )
            formset.new_objects.append(proof)

    def proof_file_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Hand a proof-of-delivery image to staff: a presigned S3 URL, or the file from disk."""
        if not request.user.has_perm("tracking.view_proofofdelivery"):
            raise PermissionDenied
        return proof_response(get_object_or_404(ProofOfDelivery, pk=pk))

    # Actions --------------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Record a scan"), permissions=["record_scan"])
    def record_scan(self, request, queryset):
        def apply(shipment: Shipment, data: dict) -> None:
            before = shipment.milestone
            self._record(request, shipment, data, code=data["code"], note=data["note"])
            if shipment.milestone != before:
                messages.success(
                    request,
                    _("%(number)s: %(code)s recorded; milestone %(before)s → %(after)s.")
                    % {"number": shipment, "code": data["code"], "before": before, "after": shipment.milestone},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "%(number)s: %(code)s recorded in the timeline; the milestone stays %(milestone)s "
                        "(not a forward move, or older than the current state)."
                    )
                    % {"number": shipment, "code": data["code"], "milestone": shipment.milestone},
                )

        return self._intermediate(request, queryset, ScanForm, _("Record a scan"), "record_scan", apply)

    @admin.action(description=gettext_lazy("Open an exception"), permissions=["manage_exception"])
    def open_exception(self, request, queryset):
        def apply(shipment: Shipment, data: dict) -> None:
            if shipment.is_terminal:
                messages.error(
                    request,
                    _("%(number)s is %(milestone)s; no exception opened.")
                    % {"number": shipment, "milestone": shipment.milestone},
                )
                return
            self._record(request, shipment, data, code="exception", reason=data["reason"])
            if shipment.exception_open and shipment.exception_reason == data["reason"]:
                messages.success(
                    request,
                    _("%(number)s: exception %(reason)s opened.") % {"number": shipment, "reason": data["reason"]},
                )
            else:
                messages.warning(
                    request,
                    _("%(number)s: recorded, but a newer exception state stands.") % {"number": shipment},
                )

        return self._intermediate(request, queryset, ExceptionOpenForm, _("Open an exception"), "open_exception", apply)

    @admin.action(description=gettext_lazy("Close the open exception"), permissions=["manage_exception"])
    def close_exception(self, request, queryset):
        def apply(shipment: Shipment, data: dict) -> None:
            if not shipment.exception_open:
                messages.error(request, _("%(number)s has no open exception.") % {"number": shipment})
                return
            self._record(request, shipment, data, code="exception_cleared", close_exception=True)
            if shipment.exception_open:
                messages.warning(
                    request,
                    _("%(number)s: recorded, but the exception is newer than that time and stays open.")
                    % {"number": shipment},
                )
            else:
                messages.success(request, _("%(number)s: exception closed.") % {"number": shipment})

        return self._intermediate(
            request, queryset, ExceptionCloseForm, _("Close the open exception"), "close_exception", apply
        )

    def _intermediate(self, request, queryset, form_class, title: str, action: str, apply):
        """Show the action's form; on a valid submission apply it to each selected shipment."""
        shipments = list(queryset.order_by("-created_at")[: ACTION_CAP + 1])
        if len(shipments) > ACTION_CAP:
            messages.error(request, _("Select at most %(cap)s shipments for one action.") % {"cap": ACTION_CAP})
            return None
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                for shipment in shipments:
                    try:
                        apply(shipment, form.cleaned_data)
                    except (ValueError, ValidationError) as exc:
                        logger.warning("admin action %s failed for %s: %s", action, shipment, exc)
                        messages.error(request, f"{shipment}: {exc}")
                return None
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "shipments": shipments,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/tracking/shipment/action_form.html", context)

    def _record(self, request, shipment: Shipment, data: dict, **event_fields) -> TrackingEvent:
        """Record an event for an action through event_record and keep the staff member's reason.

        The reason goes to the event's history record and to the shipment's admin log.
        """
        event = event_record(
            shipment=shipment,
            occurred_at=data["occurred_at"],
            facility=data["facility"],
            source=EventSource.ADMIN,
            created_by=request.user,
            **event_fields,
        )
        update_change_reason(event, data["justification"])
        self.log_change(request, shipment, f"{event.code}: {data['justification']}")
        return event

    # CSV import and export --------------------------------------------------------------------

    def get_import_resource_classes(self, request):
        return [ShipmentImportResource]

    def get_export_resource_classes(self, request):
        if request.user.has_perm("tracking.view_contact"):
            return [ShipmentExportWithContactsResource]
        return [ShipmentExportResource]

    def get_export_queryset(self, request):
        queryset = super().get_export_queryset(request)
        if queryset[: EXPORT_CAP + 1].count() > EXPORT_CAP:
            messages.warning(
                request, _("Only the first %(cap)s rows were exported; filter the list first.") % {"cap": EXPORT_CAP}
            )
        return queryset[:EXPORT_CAP]


class _PerShipmentRowsAdmin(SimpleHistoryAdmin):
    """Tables with several rows per shipment (events, contacts): newest first, found by number.

    No joins in the list (the optimizer would drive from the shipment table and sort); the
    shipment of each listed row is fetched by primary key instead (``list_prefetch``).
    """

    list_select_related = ()
    list_prefetch: tuple[str, ...] = ("shipment",)
    ordering = ["-id"]
    sortable_by = []
    search_fields = ["shipment__tracking_number"]
    search_help_text = gettext_lazy("Tracking number (any spacing).")
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*self.list_prefetch)

    def get_search_results(self, request, queryset, search_term):
        return _by_tracking_number(queryset, search_term), False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(TrackingEvent)
class TrackingEventAdmin(SafeImportConfirmMixin, ImportMixin, _PerShipmentRowsAdmin):
    """All events, read-only; CSV import of scans. Events are never edited or deleted here."""

    list_display = ["shipment", "code", "milestone", "occurred_at", "facility", "source", "created_by"]
    list_prefetch = ("shipment", "facility", "created_by")
    readonly_fields = [f.name for f in TrackingEvent._meta.fields]
    import_formats = [CSV]

    def get_import_resource_classes(self, request):
        return [EventImportResource]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    # The delete permission is kept so that an Administrator may delete a whole shipment (its
    # events go with it); a single event is never deleted on its own.
    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Contact)
class ContactAdmin(_PerShipmentRowsAdmin):
    """Sender and recipient data; reached from a shipment, searched by exact tracking number."""

    list_display = ["name", "role", "shipment", "phone", "city"]
    readonly_fields = ["shipment", "role"]
    fields = ["shipment", "role", "name", "phone", "email", "address", "city", "state", "postal_code", "country"]


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "state", "country"]
    search_fields = ["code", "name", "city"]


class PartnerScopeInline(admin.TabularInline):
    """What a partner may write beyond its own shipments (docs/api.md, "Who may write what")."""

    model = PartnerScope
    fk_name = "partner"
    extra = 0
    fields = ["kind", "facility", "shipper", "note", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["facility", "shipper"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "is_sandbox", "created_at"]
    list_filter = ["is_sandbox", "is_active"]
    search_fields = ["name"]
    inlines = [PartnerScopeInline]

    def get_readonly_fields(self, request, obj=None):
        # A token's phx_/phxt_ marker must match its partner: the kind is chosen once, at creation.
        return ["is_sandbox"] if obj is not None else []


@admin.register(PartnerScope)
class PartnerScopeAdmin(SimpleHistoryAdmin):
    """Every scope, with its audit history (who granted or removed it, when)."""

    list_display = ["partner", "kind", "facility", "shipper", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["partner", "facility", "shipper"]
    autocomplete_fields = ["partner", "facility", "shipper"]
    search_fields = ["partner__name"]


@admin.register(UnlockGuard)
class UnlockGuardAdmin(admin.ModelAdmin):
    """Wrong postal codes per shipment and the lockouts they caused (tracking/site/unlock.py).

    Read-only; deleting a row lifts the shipment's lockout and clears its count.
    """

    list_display = ["shipment", "failures", "lockouts", "locked_until", "last_failure_at"]
    list_select_related = ["shipment"]
    ordering = ["-last_failure_at"]
    search_fields = ["shipment__tracking_number"]
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
