#!/bin/sh
# Entrypoint of the Groundwork image: prepares the container, then runs the command in its place.
#
# PROMETHEUS_MULTIPROC_DIR (set by the image) is where prometheus_client's multiprocess mode keeps
# one file of metric values per process, so that /api/v1/public/metrics adds up every gunicorn
# worker. Files left by an earlier run of the container (a restart) belong to processes that no
# longer exist and would be counted again, so the directory is emptied before anything starts.
# Only its contents are removed: the directory itself may be a mount point (a tmpfs).
set -eu

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

# exec: the command becomes this process (PID 1 in a container), so it receives Docker's SIGTERM.
exec "$@"
