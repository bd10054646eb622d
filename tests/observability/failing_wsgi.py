"""The project's WSGI application with the test routes of tests/config/urls.py (views that fail),
for a real server whose errors should reach Sentry."""

from django.conf import settings

from config.wsgi import application

settings.ROOT_URLCONF = "tests.config.urls"

__all__ = ["application"]
