"""Staff see their own changes while the replica lags (real writer + replica, a live gunicorn)."""

import re

import pytest

from tests.live import form_fields

pytestmark = pytest.mark.cluster


def test_after_a_change_the_change_list_and_form_show_the_new_value_despite_lag(live_app):
    (number, *_rest) = live_app.seed(2)
    (shipment_id,) = live_app.writer_sql(
        f"SELECT id FROM `{live_app.database}`.tracking_shipment WHERE tracking_number = %s", [number]
    )[0]
    with live_app.replication_stopped():
        client = live_app.client()
        client.login_admin(*live_app.superuser)
        change = f"/admin/tracking/shipment/{shipment_id}/change/"
        page = client.get(change)
        assert page.status == 200
        fields = form_fields(page.body, "shipment_form")
        fields["reference"] = "LAGGED-REF-77"
        saved = client.post(change, data=fields)
        assert saved.status == 302, saved.body[:2000]

        # The replica really is behind: it still has the old value.
        stale = live_app.replica_sql(
            f"SELECT reference FROM `{live_app.database}`.tracking_shipment WHERE id = %s", [shipment_id]
        )
        assert stale == [("",)]
        # Without the short-lived pin cookie, as minutes later or from another tab of the session.
        client.drop_cookie("phoenix_pin")

        listing = client.get("/admin/tracking/shipment/?q=LAGGED-REF")
        assert listing.status == 200
        assert number in listing.body and "LAGGED-REF-77" in listing.body
        form = client.get(change)
        assert re.search(r'name="reference"[^>]*value="LAGGED-REF-77"', form.body)
