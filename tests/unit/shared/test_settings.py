import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.ingest.main import DEFINITION as INGEST
from services.ingest.main import create_app as create_ingest_app
from services.ingest.settings import Settings as IngestSettings
from services.submit.settings import Settings as SubmitSettings
from shared.service_main import service_cli
from shared.settings import DEVELOPMENT_AUTH_SECRET, UnsafeSettingsError


def test_service_prefix_wins_over_the_common_prefix(monkeypatch):
    monkeypatch.setenv("DD_DATABASE_URL", "postgresql+asyncpg://common/db")
    monkeypatch.setenv("DD_INGEST_DATABASE_URL", "postgresql+asyncpg://ingest/db")
    assert IngestSettings().database_url == "postgresql+asyncpg://ingest/db"
    assert SubmitSettings().database_url == "postgresql+asyncpg://common/db"


def test_each_service_has_its_default_port_and_consumer_group():
    assert (IngestSettings().port, IngestSettings().consumer_group) == (8001, "dd-ingest")
    assert (SubmitSettings().port, SubmitSettings().consumer_group) == (8005, "dd-submit")


# --------------------------------------------------------------------------- DD_ENV and the development secret

REAL_SECRET = "a-real-secret-from-the-vault-of-32-bytes-or-more"


def test_a_process_runs_as_production_unless_dd_env_says_local(monkeypatch):
    monkeypatch.delenv("DD_ENV", raising=False)
    assert IngestSettings().env == "production"
    monkeypatch.setenv("DD_ENV", "local")
    assert IngestSettings().is_local


def test_an_unknown_dd_env_is_refused(monkeypatch):
    monkeypatch.setenv("DD_ENV", "staging-ish")
    with pytest.raises(ValidationError):
        IngestSettings()


def test_development_secret_outside_local_runs_is_refused_naming_dd_auth_secret(monkeypatch):
    monkeypatch.delenv("DD_ENV", raising=False)
    monkeypatch.delenv("DD_AUTH_SECRET", raising=False)
    settings = IngestSettings()
    assert settings.auth_secret == DEVELOPMENT_AUTH_SECRET
    with pytest.raises(UnsafeSettingsError, match="DD_AUTH_SECRET"):
        settings.ensure_safe_to_start()


def test_development_secret_is_allowed_in_local_runs_and_a_real_secret_everywhere():
    IngestSettings(env="local").ensure_safe_to_start()
    IngestSettings(env="production", auth_secret=REAL_SECRET, secret_key=REAL_SECRET).ensure_safe_to_start()


async def test_service_app_refuses_to_start_with_the_development_secret_outside_local_runs():
    app = create_ingest_app(IngestSettings(env="production"))
    with pytest.raises(UnsafeSettingsError, match="DD_AUTH_SECRET"):
        async with app.router.lifespan_context(app):
            pytest.fail("the service started")
    await app.state.runtime.engine.dispose()


def test_serve_refuses_to_start_with_the_development_secret_outside_local_runs(monkeypatch):
    monkeypatch.setenv("DD_ENV", "production")
    monkeypatch.delenv("DD_AUTH_SECRET", raising=False)
    monkeypatch.delenv("DD_INGEST_AUTH_SECRET", raising=False)
    result = CliRunner().invoke(service_cli(INGEST, IngestSettings, create_ingest_app), ["serve"])
    assert result.exit_code == 2, result.output
    assert "refusing to start" in result.output and "DD_AUTH_SECRET" in result.output
