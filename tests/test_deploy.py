"""Production readiness: `check --deploy` is clean with a production-like environment, the
development key is refused, and the container files describe what deploy/README.md says."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def production_env(**overrides):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "kronos.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DEBUG": "false",
        "HTTPS": "true",
        "BEHIND_PROXY": "true",
        "ALLOWED_HOSTS": "kronos.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://kronos.example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kronos"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "STATICFILES_STORAGE": "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "WHITENOISE_USE_FINDERS": "false",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_check_deploy_is_clean_with_a_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_refuses_the_development_secret_key():
    result = manage("check", "--deploy", env=production_env(SECRET_KEY=None))
    assert result.returncode != 0
    assert "kronos.E001" in result.stderr


def test_a_server_refuses_to_start_with_the_development_key_outside_debug():
    # `migrate` (the release step) and the entrypoint's `check` run the non-deploy checks too.
    result = manage("check", env=production_env(SECRET_KEY=None, HTTPS="false"))
    assert result.returncode != 0
    assert "kronos.E001" in result.stderr


def test_check_deploy_warns_when_http_is_plain():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(HTTPS="false"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr or "security.W012" in result.stderr


# --- container files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_web_worker_beat_postgres_and_redis(compose):
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(compose["services"])
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")
    assert compose["services"]["redis"]["image"].startswith("redis:7")


def test_every_long_running_service_has_a_healthcheck(compose):
    for name in ("web", "worker", "beat", "postgres", "redis"):
        check = compose["services"][name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    assert compose["services"]["web"]["healthcheck"]["test"][-2:] == ["/app/deploy/healthcheck.py", "web"]


def test_app_services_wait_for_healthy_stores_and_read_an_env_file(compose):
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert service.get("env_file"), name
    assert compose["services"]["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_publishes_no_store_ports(compose):
    for name in ("postgres", "redis"):
        assert "ports" not in compose["services"][name], f"{name} should stay on the private network"


def test_the_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM python:3.11-slim") >= 2
    assert "\nUSER kronos" in text
    assert "HEALTHCHECK" in text and "deploy/healthcheck.py" in text
    assert "collectstatic" in text and "CompressedManifestStaticFilesStorage" in text
    assert "gunicorn" in text


def test_the_build_script_parses():
    script = ROOT / "deploy" / "build.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    for step in ("pip install", "collectstatic", "check --deploy"):
        assert step in text, step


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".venv", ".git", "var"):
        assert entry in ignored, entry


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_passes_against_a_running_server(live_server):
    port = live_server.url.rsplit(":", 1)[1]
    env = {**os.environ, "PORT": port, "ALLOWED_HOSTS": "localhost"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), "web"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_the_web_healthcheck_fails_when_nothing_answers():
    env = {**os.environ, "PORT": "1", "ALLOWED_HOSTS": "localhost"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), "web"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "unhealthy" in result.stderr
