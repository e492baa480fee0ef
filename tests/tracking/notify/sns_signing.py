"""Amazon SNS's message signatures, made here: a key and certificate of the test's own, served on
loopback as SNS serves its signing certificate, and envelopes signed the way SNS signs them
(SignatureVersion 2, SHA256withRSA over the canonical fields), written from the AWS docs, not
from the application's code."""

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:phoenix-sms-events"
CERT_URL_PATTERN = r"^http://127\.0\.0\.1:\d+/[^?#]+\.pem$"


class SnsSigner:
    """Signs SNS envelopes and serves the certificate at ``cert_url`` while open."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.end_headers()
                self.wfile.write(pem)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.cert_url = f"http://127.0.0.1:{self._server.server_address[1]}/SimpleNotificationService-test.pem"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def envelope(self, message: dict, *, at: datetime, message_id: str, topic: str = TOPIC_ARN) -> str:
        """Return a signed SNS Notification carrying ``message`` (JSON text)."""
        fields = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic,
            "Message": json.dumps(message),
            "Timestamp": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        }
        signed = "".join(
            f"{name}\n{fields[name]}\n" for name in ("Message", "MessageId", "Timestamp", "TopicArn", "Type")
        )
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        fields.update(
            SignatureVersion="2", Signature=base64.b64encode(signature).decode(), SigningCertURL=self.cert_url
        )
        return json.dumps(fields)

    def close(self):
        self._server.shutdown()
        self._server.server_close()
