"""docker/Dockerfile and .dockerignore: a non-root image whose commands name files it contains."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex

from tests.deployment.files import BASE_DIR, final_stage, image_env


def _image_path(path: str) -> str:
    """The repository path of a path in the image (the code is copied to WORKDIR)."""
    workdir = [arguments for keyword, arguments in final_stage() if keyword == "WORKDIR"][-1]
    assert path.startswith(workdir + "/"), path
    return path[len(workdir) + 1 :]


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def test_the_image_runs_as_a_user_it_creates_and_not_as_root():
    stage = final_stage()
    user = [arguments for keyword, arguments in stage if keyword == "USER"][-1]
    created = " ".join(arguments for keyword, arguments in stage if keyword == "RUN")

    assert user not in ("root", "0") and not user.startswith("0:")
    assert re.search(rf"useradd [^&]*--uid (\d+) [^&]* {user}( |$)", created)
    assert "--uid 0 " not in created


def test_entrypoint_and_command_name_files_of_the_image():
    stage = final_stage()
    entrypoint = json.loads([a for k, a in stage if k == "ENTRYPOINT"][-1])
    command = json.loads([a for k, a in stage if k == "CMD"][-1])

    script = _image_path(entrypoint[0])
    assert script == "docker/entrypoint.sh"
    assert os.access(BASE_DIR / script, os.X_OK)
    assert command[:3] == ["gunicorn", "-c", "config/gunicorn.py"]
    assert (BASE_DIR / command[2]).is_file()
    module, _, attribute = command[3].partition(":")
    assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file() and attribute
    for needed in (script, command[2], "manage.py", "config/wsgi.py", "requirements/base.txt"):
        assert not _ignored(needed), needed


def test_the_build_context_leaves_out_local_state_and_secrets():
    for path in (".env", ".venv/bin/python", "db.sqlite3", "media/x.pdf", ".git/config", "tests"):
        assert _ignored(path), path


def test_the_image_health_check_probes_the_web_server():
    healthcheck = [a for k, a in final_stage() if k == "HEALTHCHECK"][-1]

    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval" in options and "--timeout" in options
    assert "http://127.0.0.1:8000/api/v1/public/health" in " ".join(json.loads(command))


def test_the_metrics_directory_is_set_only_after_collectstatic_and_owned_by_the_app_user():
    stage = final_stage()
    collect = next(i for i, (k, a) in enumerate(stage) if k == "RUN" and "collectstatic" in a)
    directory = image_env()["PROMETHEUS_MULTIPROC_DIR"]

    assert "PROMETHEUS_MULTIPROC_DIR" not in image_env(before=collect)
    assert directory.startswith("/tmp/")  # noqa: S108 - a path in the image
    chowns = [a for k, a in stage if k == "RUN" and "PROMETHEUS_MULTIPROC_DIR" in a]
    assert any(shlex.split(a)[-2:] == ["app:app", "$PROMETHEUS_MULTIPROC_DIR"] for a in chowns)
