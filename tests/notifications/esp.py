"""The email providers as the tests meet them: fake sending APIs (real HTTP servers that answer as
the provider does) and tracking webhooks posted, authenticated and signed exactly as each provider
sends them, to the public endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes import Answer, FakeServer, Request

URL = "/api/v1/public/webhooks/email"
BASIC_USER, BASIC_PASSWORD = "hooks", "a-long-webhook-password"
WEBHOOK_SECRET = f"{BASIC_USER}:{BASIC_PASSWORD}"
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-signing-key-of-32-bytes!!").decode()


def basic_auth(credentials: str = WEBHOOK_SECRET) -> dict[str, str]:
    """The Authorization header a provider sends for https://user:password@host/... URLs."""
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def post(client: Any, body: bytes, **headers: str) -> Any:
    """POST a delivery to the public endpoint with the test client (headers as WSGI META)."""
    return client.post(URL, data=body, content_type="application/json", **headers)


# --- Postmark ------------------------------------------------------------------------------------


class FakePostmark(FakeServer):
    """Postmark's POST /email, answering as Postmark does (a MessageID per accepted email)."""

    def answer(self, request: Request) -> Answer:
        if request.method == "POST" and request.path == "/email":
            return 200, {
                "To": request.json()["To"],
                "SubmittedAt": "2026-12-03T21:00:00.0000000Z",
                "MessageID": str(uuid.uuid4()),
                "ErrorCode": 0,
                "Message": "OK",
            }
        return 404, {"ErrorCode": 404, "Message": "not found"}


def postmark_bounce(
    *, message_id: str, email: str, bounce_type: str = "HardBounce", bounce_id: int | None = None
) -> bytes:
    """A Postmark bounce webhook body (RecordType Bounce), as Postmark documents it; each bounce
    has its own id unless `bounce_id` is given."""
    return json.dumps(
        {
            "RecordType": "Bounce",
            "ID": bounce_id if bounce_id is not None else uuid.uuid4().int % 10**10,
            "Type": bounce_type,
            "TypeCode": 1 if bounce_type == "HardBounce" else 4096,
            "Name": "Hard bounce" if bounce_type == "HardBounce" else "Soft bounce",
            "Tag": "welcome",
            "MessageID": message_id,
            "ServerID": 23,
            "MessageStream": "outbound",
            "Description": "The server was unable to deliver your message (ex: unknown user).",
            "Details": f"smtp;550 5.1.1 The email account <{email}> does not exist.",
            "Email": email,
            "From": "noreply@example.com",
            "BouncedAt": "2026-12-03T21:05:00Z",
            "DumpAvailable": True,
            "Inactive": bounce_type == "HardBounce",
            "CanActivate": True,
            "Subject": "Welcome to Groundwork",
            "Metadata": {},
        }
    ).encode()


def postmark_delivery(*, message_id: str, email: str, at: str = "2026-12-03T21:01:00Z") -> bytes:
    """A Postmark delivery webhook body (it has no event id)."""
    return json.dumps(
        {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": email,
            "Tag": "welcome",
            "DeliveredAt": at,
            "Details": "Test delivery webhook details",
            "Metadata": {},
        }
    ).encode()


def postmark_complaint(*, message_id: str, email: str) -> bytes:
    """A Postmark spam complaint webhook body."""
    return json.dumps(
        {
            "RecordType": "SpamComplaint",
            "ID": uuid.uuid4().int % 10**10,
            "Type": "SpamComplaint",
            "TypeCode": 512,
            "MessageID": message_id,
            "MessageStream": "outbound",
            "Description": "The subscriber explicitly marked this message as spam.",
            "Details": "Test spam complaint details",
            "Email": email,
            "From": "noreply@example.com",
            "BouncedAt": "2026-12-03T21:07:00Z",
            "Subject": "Welcome to Groundwork",
            "Metadata": {},
        }
    ).encode()


# --- Resend (Svix signatures) --------------------------------------------------------------------


def svix_headers(
    body: bytes, *, secret: str = RESEND_SECRET, message_id: str | None = None
) -> dict[str, str]:
    """The headers Svix signs a Resend delivery with: v1 = base64 HMAC-SHA256, keyed with the
    secret's base64 part, of `<svix-id>.<svix-timestamp>.<body>`."""
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "HTTP_SVIX_ID": message_id,
        "HTTP_SVIX_TIMESTAMP": timestamp,
        "HTTP_SVIX_SIGNATURE": f"v1,{signature}",
    }


def resend_event(*, event_type: str, email_id: str, email: str, **data: Any) -> bytes:
    """A Resend webhook body (`email.delivered`, `email.bounced`, `email.complained`, ...)."""
    return json.dumps(
        {
            "type": event_type,
            "created_at": "2026-12-03T21:06:00.000Z",
            "data": {
                "created_at": "2026-12-03T21:00:00.000Z",
                "email_id": email_id,
                "from": "Groundwork <noreply@example.com>",
                "to": [email],
                "subject": "Welcome to Groundwork",
                **data,
            },
        }
    ).encode()


class FakeResend(FakeServer):
    """Resend's POST /emails, answering as Resend does (an id per email)."""

    def answer(self, request: Request) -> Answer:
        return 200, {"id": str(uuid.uuid4())}


# --- SendGrid (signed event webhook) -------------------------------------------------------------


class SendGridSigner:
    """SendGrid's signed event webhook: ECDSA P-256 over `<timestamp><body>`, SHA-256; the
    verification key is the public key's DER, in base64 (as SendGrid's settings show it)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.verification_key = base64.b64encode(der).decode()

    def headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": base64.b64encode(signature).decode(),
            "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": timestamp,
        }


class FakeSendGrid(FakeServer):
    """SendGrid's POST /v3/mail/send: 202 and no body."""

    def answer(self, request: Request) -> Answer:
        return 202, None


def sendgrid_event(*, event: str, anymail_id: str, email: str, **fields: Any) -> dict[str, Any]:
    """One SendGrid event of a batch; `anymail_id` is the custom arg anymail sent."""
    return {
        "email": email,
        "timestamp": 1796331960,
        "event": event,
        "sg_event_id": f"sg_{uuid.uuid4().hex}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "anymail_id": anymail_id,
        **fields,
    }


# --- Amazon SES (SNS notifications) --------------------------------------------------------------


def sns_bounce(
    *, message_id: str, email: str, bounce_type: str = "Permanent", sns_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """An SNS notification carrying an SES bounce event, and the headers SNS sends with it."""
    sns_id = sns_id or str(uuid.uuid4())
    ses_event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-12-03T21:05:00.000Z",
            "feedbackId": "0100017c-feedback",
        },
        "mail": {
            "timestamp": "2026-12-03T21:00:00.000Z",
            "source": "noreply@example.com",
            "messageId": message_id,
            "destination": [email],
            "headers": [],
        },
    }
    body = json.dumps(
        {
            "Type": "Notification",
            "MessageId": sns_id,
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
            "Message": json.dumps(ses_event),
            "Timestamp": "2026-12-03T21:05:01.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    ).encode()
    headers = {
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification",
        "HTTP_X_AMZ_SNS_MESSAGE_ID": sns_id,
        "HTTP_X_AMZ_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:ses-events",
    }
    return body, headers


# --- settings ------------------------------------------------------------------------------------


def use_provider(settings: Any, name: str, fake: FakeServer | None = None, **anymail: Any) -> None:
    """EMAIL_PROVIDER=`name`, sending through `fake` (its `<ESP>_API_URL`), with these ANYMAIL
    settings (WEBHOOK_SECRET, RESEND_SIGNING_SECRET, ...), as config/settings/email.py sets them."""
    settings.EMAIL_PROVIDER = name
    settings.EMAIL_BACKEND = settings.EMAIL_PROVIDERS[name]
    base = {
        key: value
        for key, value in settings.ANYMAIL.items()
        if key
        not in {
            "WEBHOOK_SECRET",
            "RESEND_SIGNING_SECRET",
            "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY",
        }
    }
    keys = {
        "postmark": {"POSTMARK_SERVER_TOKEN": "pm-server-token"},
        "resend": {"RESEND_API_KEY": "re_test_key"},
        "sendgrid": {"SENDGRID_API_KEY": "SG.test-key"},
        "ses": {},
    }[name]
    if fake is not None:
        api_path = {"postmark": "/", "resend": "/", "sendgrid": "/v3/"}[name]
        keys[f"{name.upper()}_API_URL"] = fake.url + api_path
    settings.ANYMAIL = {**base, **keys, **anymail}
