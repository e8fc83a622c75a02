"""The outbox, inbox and parked-events tables every service keeps in its own schema.

outbox: events written in the same transaction as the state change they describe; the relay
        publishes rows in `id` order and deletes them once Kafka has acknowledged them.
inbox:  ids of the events a consumer group has applied; claiming an id in the handler's
        transaction makes redelivery a no-op.
parked_events: events that arrived before the fact they depend on (`shared.db.parking`), kept
        until a later transaction of the same dispute records that fact and applies them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
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

PARKED_TABLE = "parked_events"


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


def parked_table(metadata: MetaData) -> Table:
    """Define `parked_events` in `metadata`'s schema: early events, in arrival (`id`) order."""
    return Table(
        PARKED_TABLE,
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("dispute_id", String(64), nullable=False),
        Column("dataschema", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("reason", Text, nullable=False),
        Column("traceparent", Text, nullable=True),
        Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"ix_{PARKED_TABLE}_dispute_id", "dispute_id", "id"),
    )


def notify_channel(schema: str | None) -> str:
    """LISTEN/NOTIFY channel that wakes the relay of `schema`'s outbox."""
    return f"{schema or 'public'}_outbox"
