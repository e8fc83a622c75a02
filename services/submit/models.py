"""Tables of the submit service, all in its own `submit` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "submit"

metadata = MetaData(schema=SCHEMA)
outbox_table, inbox_table = backbone_tables(metadata)
parked_events_table = parked_table(metadata)
