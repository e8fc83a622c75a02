"""Tables of the deadline service, all in its own `deadline` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "deadline"

metadata = MetaData(schema=SCHEMA)
outbox_table, inbox_table = backbone_tables(metadata)
parked_events_table = parked_table(metadata)
