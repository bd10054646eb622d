"""Output shape of POST /ws/ticket."""

from __future__ import annotations

from rest_framework import serializers


class TicketOutput(serializers.Serializer):
    ticket = serializers.CharField(
        help_text="Open the socket with ?ticket=<ticket>: once, within expires_in seconds."
    )
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid (60).")
