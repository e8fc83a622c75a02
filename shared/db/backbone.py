"""The outbox and inbox tables every service keeps in its own schema.

outbox: events written in the same transaction as the state change they describe; the relay
        publishes rows in `id` order and deletes them once Kafka has acknowledged them.
inbox:  ids of the events a consumer group has applied; claiming an id in the handler's
        transaction makes redelivery a no-op.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB


def backbone_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Define `outbox` and `inbox` in `metadata`'s schema (version 1 of their shape)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    return outbox, inbox


def notify_channel(schema: str | None) -> str:
    """LISTEN/NOTIFY channel that wakes the relay of `schema`'s outbox."""
    return f"{schema or 'public'}_outbox"
