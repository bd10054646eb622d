"""A real SMTP server (aiosmtpd) for the outbox tests, and the settings that send through it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from accounts.models import User
from tests.factories import UserFactory
from tests.fakes import free_port


@dataclass
class SmtpSink:
    """What the SMTP server received; it can refuse the next N messages (451) or recipients."""

    port: int
    messages: list[MimeMessage] = field(default_factory=list)
    refuse_next: int = 0
    refused_recipients: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refused_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                return "451 4.3.0 Try again later"
            content = envelope.original_content or b""
            self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted"

    def to(self, address: str) -> list[MimeMessage]:
        """The messages received for `address`."""
        return [message for message in self.messages if address in str(message["To"])]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free local port, for one test."""
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture
def smtp_settings(settings: Any, smtp_sink: SmtpSink) -> SmtpSink:
    """EMAIL_PROVIDER=smtp pointed at the sink, as config/settings/email.py reads it."""
    settings.EMAIL_PROVIDER = "smtp"
    settings.EMAIL_BACKEND = settings.EMAIL_PROVIDERS["smtp"]
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    return smtp_sink


def parts(message: MimeMessage) -> dict[str, str]:
    """The message's body parts by content type (text/plain, text/html)."""
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if not part.is_multipart()
    }


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """Eager tasks retry in-process (Celery raises `Retry` instead while eager errors propagate)."""
    from config.celery import app as celery_app

    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = True


def new_user(**fields: Any) -> User:
    """A saved user (UserFactory, typed)."""
    return cast(User, UserFactory(**fields))
