"""The PostgreSQL database engine: django-prometheus's (Django's own, counting queries) with a
cheaper pool check (`config.postgresql.base`)."""
