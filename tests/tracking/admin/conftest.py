"""Staff users in each role, and a few helpers for driving admin pages."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.forms import MultiWidget
from django.utils import timezone

from tests import factories


@pytest.fixture(autouse=True)
def media_in_tmp(tmp_path, settings):
    """Keep uploads and CSV files waiting for confirmation out of the work tree."""
    settings.MEDIA_ROOT = tmp_path / "media"


def staff(role: str | None, username: str | None = None) -> User:
    """Return a staff user in ``role`` (a group created by the roles data migration)."""
    user = User.objects.create_user(
        username=username or f"{(role or 'nobody').lower().replace(' ', '-')}-user", password="x"
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def dispatcher(client):
    client.force_login(staff("Dispatcher"))
    return client


@pytest.fixture
def customer_service(client):
    client.force_login(staff("Customer service"))
    return client


@pytest.fixture
def administrator(client):
    client.force_login(staff("Administrator"))
    return client


def shipment_made_yesterday(**fields):
    return factories.shipment(occurred_at=timezone.now() - timedelta(days=1), **fields)


@pytest.fixture
def shipment(db):
    return shipment_made_yesterday(reference="ORDER-1001")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def change_form_data(response) -> dict:
    """Return the POST data a browser would send for an admin change form as rendered."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name, field in management.fields.items():
            data[management.add_prefix(name)] = management.initial.get(name, field.initial)
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            if callable(value):
                value = value()
            if value is None:
                continue
            key = form.add_prefix(name)
            if isinstance(field.widget, MultiWidget):
                for index, part in enumerate(field.widget.decompress(value)):
                    data[f"{key}_{index}"] = "" if part is None else str(part)
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif hasattr(value, "pk"):
                data[key] = value.pk
            else:
                data[key] = value
    return {k: v for k, v in data.items() if not re.search(r"-__prefix__-", k)}
