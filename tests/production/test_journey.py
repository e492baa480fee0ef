"""A parcel's life through the production-shape stack, as its people live it.

A partner creates a shipment over the API; a Spanish-speaking customer finds it, unlocks the
recipient's details with the postal code and subscribes to updates; the confirmation e-mail
arrives with links at the site URL; a hub scanner posts scans; the update e-mail and the
partner's signed webhook arrive; a staff member attaches a proof photo on one instance and a
colleague sees it on the other, stored in S3. At the end every process's log is read.

The tests share one stack and one shipment and run in the order written; each states one part
of the story. Waits are bounded only so that a broken run stops (nothing is timed).
"""

import io
import re
import subprocess
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
from PIL import Image

from tests.browser import chromium
from tests.factories import image_bytes
from tests.live import form_fields
from tests.production.conftest import BUCKET, SITE_URL
from tests.tracking.notify.support import link_in, text_of, wait_for

pytestmark = pytest.mark.cluster

RECIPIENT = {
    "name": "Fernanda Ruiz Ortega",
    "phone": "+52 33 1234 5678",
    "email": "fernanda.ruiz@example.com",
    "address": "Av. Juárez 123, Col. Centro",
    "city": "Guadalajara",
    "state": "Jalisco",
    "postal_code": "44100",
    "country": "MX",
}
SUBSCRIBER = "cliente@example.com"
SSL_VERSION = (  # the TLS version of the application's own connection to each endpoint
    "from django.db import connections\n"
    "for alias in ('default', 'reader'):\n"
    "    cursor = connections[alias].cursor()\n"
    "    cursor.execute(\"SHOW SESSION STATUS LIKE 'Ssl_version'\")\n"
    "    print(alias, cursor.fetchone()[1])"
)
STORY: dict = {}


def _token(production) -> dict:
    return {"Authorization": f"Token {production.partner_token}"}


def _scan(production, milestone: str) -> dict:
    event = {
        "id": f"hub-{uuid.uuid4()}",
        "tracking_number": STORY["number"],
        "milestone": milestone,
        "occurred_at": datetime.now(UTC).isoformat(),
        "facility": "GDL01",
    }
    response = production.client().post("/api/v1/events", json_body={"events": [event]}, headers=_token(production))
    assert response.status == 200, response.body
    assert response.json()["results"][0]["status"] == "accepted", response.body
    return event


def test_it_creates_a_shipment_for_the_partner(production):
    response = production.client().post(
        "/api/v1/shipments",
        json_body={
            "reference": "ORDER-PROD-1",
            "service": "standard",
            "weight_grams": 1200,
            "pieces": 1,
            "origin_facility": "MEX01",
            "destination_facility": "GDL01",
            "recipient": RECIPIENT,
        },
        headers=_token(production),
    )
    assert response.status == 201, response.body
    STORY["number"] = response.json()["tracking_number"]


def test_it_shows_a_spanish_visitor_the_page_in_spanish(production):
    page = production.client().get(f"/track/{STORY['number']}/", headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert page.status == 200
    assert 'lang="es"' in page.body
    assert "Guía creada" in page.body


def test_it_shows_the_recipient_only_with_the_right_postal_code(production):
    client = production.client()
    wrong = client.post(f"/track/{STORY['number']}/", {"postal_code": "44999"})
    right = client.post(f"/track/{STORY['number']}/", {"postal_code": "44100"})
    assert wrong.status == 403 and RECIPIENT["name"] not in wrong.body
    assert right.status == 200 and RECIPIENT["name"] in right.body


def test_it_mails_the_confirmation_with_links_at_the_site_url(production):
    client = production.client()
    path = f"/track/{STORY['number']}/notify/"
    fields = form_fields(client.get(path).body, "notify-form") or form_fields(client.get(path).body)
    fields.update(email=SUBSCRIBER, topics=["picked_up", "delivered"])
    response = client.post(path, data=fields)
    assert response.status == 302, response.body
    assert client.get(response.headers["Location"]).status == 200

    confirmation = wait_for(lambda: production.smtp.to(SUBSCRIBER), "the confirmation e-mail")[0]
    link = link_in(confirmation, "/notify/confirm/")
    assert link.startswith(f"{SITE_URL}/notify/confirm/")
    assert str(confirmation["List-Unsubscribe"]).strip().startswith(f"<{SITE_URL}/notify/unsubscribe/")
    STORY["confirm_path"] = urllib.parse.urlparse(link).path


def test_it_confirms_the_subscription_with_the_button_behind_the_link(production):
    client = production.client()
    page = client.get(STORY["confirm_path"])
    # Opening the link (as a mail scanner would) confirms nothing: the page asks for a POST.
    assert page.status == 200 and 'method="post"' in page.body, page.body
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    confirmed = client.post(STORY["confirm_path"], data={"csrfmiddlewaretoken": token}, follow=True)
    assert confirmed.status == 200, confirmed.body
    # The subscription is active: the worker sends it the next milestone (next test).


def test_it_lets_staff_register_the_partners_webhook(production):
    staff = production.client()
    staff.login_admin("admin", production.admin_password)
    add = "/admin/tracking/webhookendpoint/add/"
    fields = form_fields(staff.get(add).body)
    partner = re.search(r'<option value="(\d+)">Stack demo partner</option>', staff.get(add).body).group(1)
    fields.update(partner=partner, url=production.webhooks.url, topics=["scan", "milestone"], is_active="on")
    fields.pop("_addanother", None), fields.pop("_continue", None)
    saved = staff.post(add, data=fields)
    assert saved.status == 302, saved.body
    saved = staff.get(saved.headers["Location"])
    production.webhooks.secret = re.search(r"whsec_[\w-]+", saved.body).group(0)


def test_it_delivers_the_update_email_and_the_signed_webhook_after_a_scan(production):
    event = _scan(production, "picked_up")
    updates = wait_for(
        lambda: [m for m in production.smtp.to(SUBSCRIBER) if "/notify/confirm/" not in text_of(m)], "the update e-mail"
    )
    assert STORY["number"][-4:] in text_of(updates[0]).replace(" ", "")
    assert SITE_URL in text_of(updates[0])
    hook = wait_for(
        lambda: [r for r in production.webhooks.requests if r["payload"]["data"]["tracking_number"] == STORY["number"]],
        "the partner's webhook",
    )[0]
    assert hook["signature_ok"] and hook["status"] == 200
    assert hook["payload"]["data"]["event"]["partner_event_id"] == event["id"]


def test_it_shows_a_proof_uploaded_on_one_instance_through_the_other(production):
    _scan(production, "delivered")
    staff_a = production.client("az-a")
    staff_a.login_admin("admin", production.admin_password)
    shipment_id = re.search(
        r'href="/admin/tracking/shipment/(\d+)/change/',
        staff_a.get(f"/admin/tracking/shipment/?q={STORY['number']}").body,
    ).group(1)
    change = f"/admin/tracking/shipment/{shipment_id}/change/"
    photo = image_bytes("PNG", (320, 240))
    with chromium() as browser:
        page = browser.new_page()
        page.goto(production.url("az-a") + "/admin/login/?next=" + change)
        page.fill("#id_username", "admin")
        page.fill("#id_password", production.admin_password)
        page.click("input[type=submit]")
        page.wait_for_url(f"**{change}")
        page.click("#proofs-group .add-row a")  # the admin's own script adds the inline row
        page.set_input_files(
            "input[name='proofs-0-upload']", files=[{"name": "pod.png", "mimeType": "image/png", "buffer": photo}]
        )
        page.select_option("select[name='proofs-0-kind']", "photo")
        page.click("input[name='_continue']")
        page.wait_for_load_state()
        html = page.content()
    proof = re.search(r"/admin/tracking/shipment/proof/(\d+)/", html)
    assert proof, "the change page shows no stored proof"

    stored = production.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert len(stored) == 1 and not list((production.dir / "media").rglob("*.png"))

    staff_b = production.client("az-b")
    staff_b.login_admin("admin", production.admin_password)
    served = staff_b.get(proof.group(0), follow=False)
    assert served.status == 302 and served.headers["Location"].startswith(production.s3.meta.endpoint_url)
    fetched = urllib.request.urlopen(served.headers["Location"], timeout=30).read()
    # The stored proof is the upload re-encoded from its pixels (metadata dropped): the same picture.
    stored_bytes = production.s3.get_object(Bucket=BUCKET, Key=stored[0]["Key"])["Body"].read()
    assert fetched == stored_bytes
    assert Image.open(io.BytesIO(fetched)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()


def test_it_verifies_the_database_servers_identity(production):
    good = production.manage("dbcheck")
    assert good.returncode == 0, good.stdout + good.stderr
    session = production.manage("shell", "-c", SSL_VERSION)
    versions = dict(line.split() for line in session.stdout.splitlines() if line.startswith(("default ", "reader ")))
    assert set(versions) == {"default", "reader"}, session.stdout + session.stderr
    assert all(version.startswith("TLSv1.") for version in versions.values()), versions

    stranger = production.dir.parent / "stranger-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stranger"]
        + ["-keyout", f"{stranger}.key", "-out", str(stranger)],
        check=True,
        capture_output=True,
    )
    refused = production.manage("dbcheck", PHOENIX_DB_SSL_CA=str(stranger))
    assert refused.returncode != 0
    assert "certificate" in (refused.stdout + refused.stderr).lower()


def test_it_writes_no_error_and_no_traceback_in_any_process_log(production):
    problems = {
        name: [line for line in text.splitlines() if _is_problem(line)] for name, text in production.logs().items()
    }
    assert {name: lines for name, lines in problems.items() if lines} == {}
    assert "deliver_notifications" in production.logs()["worker/worker.log"]


def _is_problem(line: str) -> bool:
    return bool(re.search(r'"level": "(ERROR|CRITICAL)"|\[ERROR\]|Traceback \(most recent call last\)', line))
