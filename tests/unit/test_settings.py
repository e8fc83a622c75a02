from services.ingest.settings import Settings as IngestSettings
from services.submit.settings import Settings as SubmitSettings


def test_service_prefix_wins_over_the_common_prefix(monkeypatch):
    monkeypatch.setenv("DD_DATABASE_URL", "postgresql+asyncpg://common/db")
    monkeypatch.setenv("DD_INGEST_DATABASE_URL", "postgresql+asyncpg://ingest/db")
    assert IngestSettings().database_url == "postgresql+asyncpg://ingest/db"
    assert SubmitSettings().database_url == "postgresql+asyncpg://common/db"


def test_each_service_has_its_default_port_and_consumer_group():
    assert (IngestSettings().port, IngestSettings().consumer_group) == (8001, "dd-ingest")
    assert (SubmitSettings().port, SubmitSettings().consumer_group) == (8005, "dd-submit")
