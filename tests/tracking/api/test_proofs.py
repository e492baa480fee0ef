"""Proof-of-delivery links in the owner's tracking record, and GET /api/v1/proofs/<id>."""

import urllib.request
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking.services import event_record

pytestmark = pytest.mark.django_db


def _delivered(partner):
    shipment = factories.shipment(partner=partner, occurred_at=timezone.now() - timedelta(days=1))
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now() - timedelta(hours=1))
    return shipment


@pytest.fixture
def owner(db):
    partner, key = factories.partner_token()
    return partner, ApiClient(key)


@pytest.fixture
def signed_for(owner, media_root):
    """A delivered shipment of ``owner`` with a signature (PNG) and a photo (JPEG), on local disk."""
    partner, _ = owner
    shipment = _delivered(partner)
    signature = factories.proof_of_delivery(shipment, factories.image_bytes("PNG"), kind="signature")
    photo = factories.proof_of_delivery(shipment, factories.image_bytes("JPEG"), kind="photo")
    return shipment, signature, photo


def _proofs(client, shipment) -> list[dict] | None:
    body = client.get(f"/api/v1/tracking/{shipment.tracking_number}").json()
    return body.get("private", {}).get("proof_of_delivery")


def test_the_owner_sees_links_to_its_proofs_and_fetches_the_stored_bytes(owner, signed_for):
    _, client = owner
    shipment, signature, photo = signed_for
    proofs = _proofs(client, shipment)
    assert [(p["id"], p["kind"], p["content_type"]) for p in proofs] == [
        (signature.pk, "signature", "image/png"),
        (photo.pk, "photo", "image/jpeg"),
    ]
    assert proofs[0]["url"] == f"http://testserver/api/v1/proofs/{signature.pk}"
    assert proofs[0]["uploaded_at"]

    for proof, stored, content_type in [(proofs[0], signature, "image/png"), (proofs[1], photo, "image/jpeg")]:
        response = client.get(proof["url"])
        assert response.status_code == 200
        with stored.image.open("rb") as handle:
            assert b"".join(response.streaming_content) == handle.read()
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"] == "inline"
        assert response["Cache-Control"] == "private, no-store"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_a_client_that_asks_for_an_image_gets_it(owner, signed_for):
    _, client = owner
    shipment, signature, _ = signed_for
    response = client.get(f"/api/v1/proofs/{signature.pk}", HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"


def test_a_delivered_shipment_without_proofs_lists_none(owner, media_root):
    partner, client = owner
    assert _proofs(client, _delivered(partner)) == []


def test_another_partner_sees_no_proofs_and_cannot_fetch_them(signed_for):
    shipment, signature, _ = signed_for
    _, key = factories.partner_token()
    other = ApiClient(key)
    tracked = other.get(f"/api/v1/tracking/{shipment.tracking_number}")
    assert tracked.status_code == 200
    assert "private" not in tracked.json() and "proof" not in tracked.content.decode()

    response = other.get(f"/api/v1/proofs/{signature.pk}")
    assert response.status_code == 404
    unknown = other.get(f"/api/v1/proofs/{signature.pk + 1000}")
    assert unknown.status_code == 404
    # The same answer as for an id that does not exist: nothing to learn about other shipments.
    assert error_of(response) == {
        "code": "not_found",
        "message": f"You have no proof of delivery with the id {signature.pk}.",
        "fields": {},
    }
    assert error_of(unknown)["message"] == f"You have no proof of delivery with the id {signature.pk + 1000}."


def test_without_a_token_there_are_no_proofs_and_fetching_one_is_a_401(anonymous, signed_for):
    shipment, signature, _ = signed_for
    tracked = anonymous.get(f"/api/v1/tracking/{shipment.tracking_number}")
    assert tracked.status_code == 200
    assert "private" not in tracked.json() and "proof" not in tracked.content.decode()

    response = anonymous.get(f"/api/v1/proofs/{signature.pk}")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"
    assert anonymous.get(f"/api/v1/proofs/{signature.pk + 1000}").status_code == 401


def test_a_non_numeric_id_is_a_json_404(owner):
    _, client = owner
    response = client.get("/api/v1/proofs/abc")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_the_list_gives_each_shipment_its_own_proofs_in_a_constant_number_of_queries(owner, media_root):
    partner, client = owner

    def lookup(shipments) -> tuple[int, list[dict]]:
        """Return the queries and the results of one list request.

        Inside the test's transaction every read goes to the writer, so its queries are all.
        """
        query = ",".join(s.tracking_number for s in shipments)
        client.get("/api/v1/tracking", {"numbers": query})  # records the token's last use
        with CaptureQueriesContext(connection) as captured:
            body = client.get("/api/v1/tracking", {"numbers": query}).json()
        return len(captured.captured_queries), body["results"]

    mine = [_delivered(partner) for _ in range(24)]
    attached = {s.pk: [factories.proof_of_delivery(s, factories.image_bytes("PNG")).pk] for s in mine[::2]}
    for s in mine[::4]:
        attached[s.pk].append(factories.proof_of_delivery(s, factories.image_bytes("JPEG"), kind="photo").pk)
    theirs = _delivered(factories.partner())
    factories.proof_of_delivery(theirs, factories.image_bytes("PNG"))

    one, _ = lookup(mine[:1])
    queries, results = lookup([*mine, theirs])
    assert queries == one
    assert queries <= 6  # token, pin, shipments, events, contacts, proofs
    for shipment, result in zip([*mine, theirs], results, strict=True):
        assert result["status"] == "found"
        if shipment is theirs:
            assert "private" not in result["shipment"]
        else:
            listed = [p["id"] for p in result["shipment"]["private"]["proof_of_delivery"]]
            assert listed == attached.get(shipment.pk, [])


def test_with_s3_the_link_redirects_to_a_short_lived_signed_url_with_the_same_bytes(owner, s3_media):
    partner, client = owner
    content = factories.image_bytes("JPEG")
    proof = factories.proof_of_delivery(_delivered(partner), content, kind="photo")
    (stored,) = s3_media.list_objects_v2(Bucket="phoenix-media")["Contents"]
    assert stored["Key"] == proof.image.name

    response = client.get(f"/api/v1/proofs/{proof.pk}")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    signed = response["Location"]
    assert signed.startswith(f"{s3_media.meta.endpoint_url}/phoenix-media/")
    assert "Expires=" in signed and "Signature=" in signed
    kept = s3_media.get_object(Bucket="phoenix-media", Key=stored["Key"])["Body"].read()
    with urllib.request.urlopen(signed, timeout=10) as answer:
        assert answer.read() == kept
        assert answer.headers["Content-Type"] == "image/jpeg"
        assert answer.headers["Cache-Control"] == "private, no-store"

    _, key = factories.partner_token()
    refused = ApiClient(key).get(f"/api/v1/proofs/{proof.pk}")
    assert refused.status_code == 404 and not refused.has_header("Location")


def test_a_proof_whose_file_is_gone_is_a_clear_404_not_a_500(owner, signed_for, caplog):
    _, client = owner
    shipment, signature, _photo = signed_for
    signature.image.storage.delete(signature.image.name)
    response = client.get(f"/api/v1/proofs/{signature.pk}")
    assert response.status_code == 404
    assert error_of(response)["message"] == "The image of this proof of delivery is missing."
    assert any("is missing" in record.getMessage() and record.levelname == "ERROR" for record in caplog.records)
