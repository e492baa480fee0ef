"""The Django admin works while the replica lags: log in, save, land on the change list, see it."""

import re
import secrets

import pytest

from tests.live import form_fields

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def number(live_app):
    return live_app.seed(2)[-1]


def _shipment_id(live_app, number: str) -> int:
    rows = live_app.writer_sql(
        f"SELECT id FROM `{live_app.database}`.tracking_shipment WHERE tracking_number = %s", [number]
    )
    return rows[0][0]


def _listed(changelist_html: str, number: str) -> bool:
    return re.search(rf">\s*{number}\s*<", changelist_html) is not None


def test_it_logs_in_saves_and_sees_the_change_with_the_replica_behind(live_app, number):
    change_url = f"/admin/tracking/shipment/{_shipment_id(live_app, number)}/change/"
    reference = f"ADMIN-{secrets.token_hex(4)}"
    bystander = live_app.admin_client()  # logged in while replication runs
    bystander.drop_cookie("phoenix_pin")
    with live_app.replication_stopped():
        staff = live_app.client()
        staff.login_admin(*live_app.superuser)
        form = staff.get(change_url)
        assert form.status == 200
        fields = form_fields(form.body, "shipment_form")
        assert "reference" in fields and "csrfmiddlewaretoken" in fields
        fields["reference"] = reference
        fields["_save"] = "Save"
        saved = staff.post(change_url, fields)
        assert saved.status == 302, re.findall(r'class="errorlist[^"]*">(.*?)</ul>', form.body + saved.body)
        changelist = staff.get(saved.headers["Location"])
        assert changelist.status == 200
        assert _listed(changelist.body, number)
        assert _listed(staff.get(f"/admin/tracking/shipment/?q={reference}").body, number)
        assert f'value="{reference}"' in staff.get(change_url).body
        # A staff member without the pin reads the change list from the replica: not there yet.
        assert not _listed(bystander.get(f"/admin/tracking/shipment/?q={reference}").body, number)
        assert live_app.replica_sql(
            f"SELECT COUNT(*) FROM `{live_app.database}`.tracking_shipment WHERE reference = %s", [reference]
        ) == [(0,)]
    # Replication resumed: everyone sees it.
    assert _listed(bystander.get(f"/admin/tracking/shipment/?q={reference}").body, number)
