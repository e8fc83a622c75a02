"""Tables of the ingest service, all in its own `ingest` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "ingest"

metadata = MetaData(schema=SCHEMA)
outbox, inbox = backbone_tables(metadata)
parked = parked_table(metadata)
