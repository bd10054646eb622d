"""factory_boy factories for file records."""

from __future__ import annotations

import uuid

import factory

from files.models import File


class FileFactory(factory.django.DjangoModelFactory):
    """An uploaded file record (no stored object unless a test writes one under `key`)."""

    class Meta:
        model = File

    id = factory.LazyFunction(uuid.uuid4)
    key = factory.LazyAttribute(lambda file: f"uploads/test/{file.id}")
    filename = factory.Sequence(lambda n: f"document-{n}.pdf")
    content_type = "application/pdf"
    declared_size = 1000
    size = 1000
    status = File.Status.UPLOADED
