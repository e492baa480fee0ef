"""Roles: groups from the data migration, and what each may do."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory

from tests.tracking.admin.conftest import staff

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tracking/shipment/"


def test_the_data_migration_creates_the_three_roles():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Dispatcher", "Customer service", "Administrator"} <= names


def _actions(client) -> set[str]:
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    return {name for name, _label in response.context["action_form"].fields["action"].choices if name}


def test_a_dispatcher_records_scans_but_sees_no_personal_data(dispatcher, shipment):
    assert _actions(dispatcher) >= {"record_scan", "open_exception", "close_exception"}
    page = dispatcher.get(f"{CHANGELIST}{shipment.pk}/change/").content.decode()
    assert "Fernanda" not in page and "+52 33 1234 5678" not in page
    assert dispatcher.get("/admin/tracking/contact/").status_code == 403
    assert dispatcher.post(f"{CHANGELIST}{shipment.pk}/delete/", {"post": "yes"}).status_code == 403


def test_customer_service_sees_contacts_and_handles_exceptions_but_records_no_scans(customer_service, shipment):
    actions = _actions(customer_service)
    assert "record_scan" not in actions
    assert {"open_exception", "close_exception"} <= actions
    page = customer_service.get(f"{CHANGELIST}{shipment.pk}/change/").content.decode()
    assert "Fernanda Ruiz Ortega" in page


def test_customer_service_cannot_delete_anything(customer_service, shipment):
    user = staff("Customer service", username="cs-2")
    assert not [p for p in user.get_all_permissions() if ".delete_" in p]
    request = RequestFactory().get("/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        assert not model_admin.has_delete_permission(request), model
    assert "delete_selected" not in _actions(customer_service)
    contact = shipment.contacts.first()
    for url in (f"{CHANGELIST}{shipment.pk}/delete/", f"/admin/tracking/contact/{contact.pk}/delete/"):
        assert customer_service.post(url, {"post": "yes"}).status_code == 403
    assert shipment.__class__.objects.filter(pk=shipment.pk).exists()


def test_an_administrator_can_delete_a_shipment(administrator, shipment):
    response = administrator.post(f"{CHANGELIST}{shipment.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not shipment.__class__.objects.filter(pk=shipment.pk).exists()


def test_staff_without_a_role_see_no_shipments(client, shipment):
    client.force_login(staff(None))
    assert client.get(CHANGELIST).status_code == 403
