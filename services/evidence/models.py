"""Tables of the evidence service, all in its own `evidence` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.db.backbone import backbone_tables, parked_table

SCHEMA = "evidence"

metadata = MetaData(schema=SCHEMA)
outbox, inbox = backbone_tables(metadata)
parked = parked_table(metadata)
