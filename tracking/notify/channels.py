"""One small sender per phone channel: WhatsApp (Cloud API) and SMS (Amazon SNS).

Each sender does one exchange and answers with an ``Outcome``; the worker
(tracking/notify/messaging.py, on the claim/lease/retry/record path of tracking/notify/sender.py)
decides what to record. Nothing here reads or writes the database.
"""

import logging
from dataclasses import dataclass
from typing import Protocol

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from tracking.notify.texts import WhatsAppTemplate

logger = logging.getLogger(__name__)

# WhatsApp error codes (Cloud API): the number has no WhatsApp or cannot receive this message,
# so SMS is tried instead.
NOT_ON_WHATSAPP = {131026}
# Retrying cannot help: the template is missing, paused or its parameters do not match; the
# number is invalid; the request is malformed.
WHATSAPP_PERMANENT = {100, 131008, 131009, 131051, 132000, 132001, 132005, 132007, 132012, 132015, 132016}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    provider_id: str = ""
    error: str = ""
    permanent: bool = False
    not_on_whatsapp: bool = False
    status: int | None = None


class PhoneSender(Protocol):
    channel: str

    def send(self, *, to: str, country: str, text: str, template: WhatsAppTemplate) -> Outcome: ...


class WhatsAppSender:
    """``POST /{version}/{phone-number-id}/messages`` with a template message."""

    channel = "whatsapp"

    def __init__(self, session: requests.Session | None = None):
        self.session = session or requests.Session()

    @staticmethod
    def configured() -> bool:
        return bool(settings.PHOENIX_WHATSAPP_TOKEN and settings.PHOENIX_WHATSAPP_PHONE_NUMBER_ID)

    def send(self, *, to: str, country: str, text: str, template: WhatsAppTemplate) -> Outcome:
        components = [{"type": "body", "parameters": [{"type": "text", "text": value} for value in template.body]}]
        if template.button is not None:
            components.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": template.button}],
                }
            )
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.lstrip("+"),
            "type": "template",
            "template": {"name": template.name, "language": {"code": template.language}, "components": components},
        }
        url = (
            f"{settings.PHOENIX_WHATSAPP_API_URL}/{settings.PHOENIX_WHATSAPP_API_VERSION}/"
            f"{settings.PHOENIX_WHATSAPP_PHONE_NUMBER_ID}/messages"
        )
        try:
            response = self.session.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {settings.PHOENIX_WHATSAPP_TOKEN}"},
                timeout=settings.PHOENIX_WHATSAPP_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and answer.get("messages"):
            return Outcome(ok=True, provider_id=answer["messages"][0]["id"], status=200)
        error = answer.get("error") or {}
        code = error.get("code")
        message = f"WhatsApp {response.status_code} code {code}: {error.get('message', response.text[:200])}"
        return Outcome(
            ok=False,
            error=message,
            status=response.status_code,
            not_on_whatsapp=code in NOT_ON_WHATSAPP,
            permanent=code in WHATSAPP_PERMANENT or code in NOT_ON_WHATSAPP,
        )


class SmsSender:
    """Amazon SNS ``Publish`` to a phone number, transactional, with the country's sender identity."""

    channel = "sms"

    def __init__(self):
        options = {"region_name": settings.AWS_SNS_REGION_NAME}
        if settings.AWS_SNS_ENDPOINT_URL:
            options["endpoint_url"] = settings.AWS_SNS_ENDPOINT_URL
        self.client = boto3.client("sns", **options)

    def send(self, *, to: str, country: str, text: str, template: WhatsAppTemplate) -> Outcome:
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        sender = settings.PHOENIX_SMS_SENDER_IDS.get(country, "")
        if sender.startswith("+"):
            attributes["AWS.MM.SMS.OriginationNumber"] = {"DataType": "String", "StringValue": sender}
        elif sender:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender}
        try:
            answer = self.client.publish(PhoneNumber=to, Message=text, MessageAttributes=attributes)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            permanent = code in {"InvalidParameter", "InvalidParameterValue", "OptedOut"}
            return Outcome(ok=False, error=f"SNS {code}: {exc}", permanent=permanent)
        except BotoCoreError as exc:
            return Outcome(ok=False, error=f"SNS {type(exc).__name__}: {exc}")
        return Outcome(ok=True, provider_id=answer["MessageId"])
