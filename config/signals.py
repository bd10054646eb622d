"""Signals of the platform that apps connect to."""

from django.dispatch import Signal

#: Sent once by the web server's master process (config/gunicorn.py `when_ready`) before it
#: forks its workers. Receivers import what a worker would otherwise import on its first request
#: of some kind: the workers then share it with the master, and none pauses for the import
#: while serving (a worker recycled after `max_requests` included).
before_workers_fork = Signal()
