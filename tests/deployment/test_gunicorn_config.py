"""config/gunicorn.py: what the master prepares before the workers fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gc, json, runpy, sys
import django
django.setup()
hooks = runpy.run_path("config/gunicorn.py")
before = "projects.views" in sys.modules
hooks["when_ready"](None)
print(json.dumps({
    "views_before": before,
    "views_after": "projects.views" in sys.modules,
    "frozen": gc.get_freeze_count(),
}))
"""


def test_the_master_loads_the_views_and_freezes_its_heap_before_forking():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "ENVIRONMENT": "test"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["views_before"] is False  # what the workers would otherwise each import
    assert seen["views_after"] is True
    assert seen["frozen"] > 10_000  # the heap moved to the permanent generation
