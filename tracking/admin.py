from django.contrib import admin

from tracking.models import Facility, Partner, Shipment


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "state", "country"]
    search_fields = ["code", "name", "city"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "created_at"]


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["tracking_number", "milestone", "exception_open", "origin_city", "destination_city", "created_at"]
    list_select_related = False
    show_full_result_count = False
    readonly_fields = ["tracking_number"]
    search_fields = ["tracking_number", "reference"]
