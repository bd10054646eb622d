"""docker/compose.yaml: every setting reaches the app, every long-running service is watched."""

from __future__ import annotations

import pytest

from tests.deployment.files import (
    SHELL_SECRETS,
    compose,
    env_example_names,
    image_env,
    interpolate,
    service_environment,
)

APP_SERVICES = ("migrate", "web", "ai", "realtime", "worker", "beat")
ONE_SHOTS = ("migrate", "minio-setup")


def test_every_variable_of_env_example_reaches_every_app_container():
    services = compose()["services"]
    names = env_example_names()
    assert len(names) > 100  # the parser reads the file

    for service in APP_SERVICES:
        declared = services[service]["environment"]
        missing = [name for name in names if name not in declared]
        assert not missing, f"{service} does not pass {missing}"


def test_app_containers_also_read_the_optional_env_file():
    for service in APP_SERVICES:
        env_files = compose()["services"][service]["env_file"]
        assert env_files == [{"path": "../.env", "required": False}], service


def test_every_long_running_service_has_a_health_check_and_one_shots_do_not_restart():
    services = compose()["services"]

    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
            continue
        check = service.get("healthcheck", {})
        assert not check.get("disable"), name
        assert check.get("test"), name
        assert service["restart"] == "unless-stopped", name


def test_app_services_start_after_migrations_and_on_healthy_dependencies():
    services = compose()["services"]

    for name in ("web", "ai", "realtime", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    for name in ("web", "ai", "realtime", "worker"):
        depends = services[name]["depends_on"]
        assert depends["minio-setup"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["minio-setup"]["depends_on"]["minio"] == {"condition": "service_healthy"}


def test_files_go_to_the_stacks_bucket_with_the_key_minio_setup_creates():
    web = service_environment("web")
    setup = service_environment("minio-setup")

    assert web["STORAGE_PROVIDER"] == "s3"
    assert web["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert web["AWS_STORAGE_BUCKET_NAME"] == setup["BUCKET"]
    assert web["AWS_ACCESS_KEY_ID"] == setup["APP_ACCESS_KEY"]
    assert web["AWS_SECRET_ACCESS_KEY"] == setup["APP_SECRET_KEY"]
    assert setup["MINIO_ROOT_PASSWORD"] == service_environment("minio")["MINIO_ROOT_PASSWORD"]
    # The app's key is not the root one.
    assert setup["APP_ACCESS_KEY"] != setup["MINIO_ROOT_USER"]
    assert setup["APP_SECRET_KEY"] != setup["MINIO_ROOT_PASSWORD"]


def test_an_empty_endpoint_means_aws_itself():
    web = service_environment("web", {"AWS_S3_ENDPOINT_URL": ""})

    assert web["AWS_S3_ENDPOINT_URL"] == ""


@pytest.mark.parametrize("secret", sorted(SHELL_SECRETS))
def test_compose_refuses_to_start_without_each_secret(secret):
    shell = {name: value for name, value in SHELL_SECRETS.items() if name != secret}
    services = compose()["services"]
    references = [
        str(value)
        for service in services.values()
        for value in (service.get("environment") or {}).values()
        if value is not None and secret in str(value)
    ]

    assert references, secret
    with pytest.raises(KeyError, match=secret):
        for value in references:
            interpolate(value, shell)


def test_the_ai_pool_differs_from_web_only_in_its_server_settings():
    web = service_environment("web")
    ai = service_environment("ai")

    changed = {name for name in ai if ai[name] != web.get(name)}
    assert changed == {"WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_GRACEFUL_TIMEOUT"}


def test_every_app_container_keeps_the_metrics_directory_its_entrypoint_empties():
    for service in APP_SERVICES:
        directory = service_environment(service)["PROMETHEUS_MULTIPROC_DIR"]
        assert directory == image_env()["PROMETHEUS_MULTIPROC_DIR"], service
