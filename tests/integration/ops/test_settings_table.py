"""docs/operating.md's settings table is the one the Settings classes give (so it cannot rot), and every
setting of every service has a meaning written where it is declared."""

from __future__ import annotations

import pytest

from deploy import settings_table
from shared.settings import ServiceSettings


def test_the_settings_table_in_operating_md_is_current() -> None:
    document = settings_table.DOC.read_text(encoding="utf-8")
    assert settings_table.replace_in(document, settings_table.render()) == document, (
        "docs/operating.md's settings table is stale: python -m deploy.settings_table --write"
    )


def test_every_setting_of_every_service_is_in_the_table() -> None:
    tables, base = settings_table.render(), ServiceSettings.model_fields
    for cls in settings_table.service_settings():
        for name, field in cls.model_fields.items():
            common = name in base and field.default == base[name].default
            variable = f"DD_{name.upper()}" if common else f"DD_{cls.service.upper()}_{name.upper()}"
            assert f"`{variable}`" in tables, f"{cls.__module__}: {name} is missing as {variable}"
    assert [c.service for c in settings_table.service_settings()] == sorted(
        ["ingest", "evidence", "deadline", "notify", "submit", "portal_sim"]
    )


def test_a_setting_without_a_meaning_is_refused() -> None:
    class Settings(ServiceSettings):
        service = "example"

        # Documented.
        documented: int = 1

        undocumented: int = 2

    with pytest.raises(settings_table.UndocumentedSetting, match="undocumented"):
        settings_table.settings_of(Settings, own=True)


def test_adjacent_fields_under_one_comment_share_a_row() -> None:
    class Settings(ServiceSettings):
        service = "example"

        # Where the example listens, and for how long.
        example_host: str = "127.0.0.1"
        example_timeout_s: float = 5.0
        # Its own.
        example_retries: int = 3

    groups = settings_table.settings_of(Settings, own=True)
    assert [[row.name for row in g] for g in groups] == [["example_host", "example_timeout_s"], ["example_retries"]]
    assert groups[0][1].default == "`5.0`" and groups[0][0].meaning == "Where the example listens, and for how long."
