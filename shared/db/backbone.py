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
    DDL,
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
    event,
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
    """Define `parked_events` in `metadata`'s schema: early events, in arrival (`id`) order.

    Creating the table also creates `parked_events_of(dispute_id, limit)` beside it (see
    `parked_of_function`), and dropping it drops the function.
    """
    table = Table(
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
    function = parked_of_function(table)
    # SQLAlchemy's DDL() has no annotations (2.1): the two ignores below are for that only.
    event.listen(table, "after_create", DDL(_parked_of_ddl(table, function)))  # type: ignore[no-untyped-call]
    drop = f"DROP FUNCTION IF EXISTS {function}(text, integer)"
    event.listen(table, "before_drop", DDL(drop))  # type: ignore[no-untyped-call]
    return table


def parked_of_function(table: Table) -> str:
    """Qualified name of the function that locks a dispute (shared) and returns its parked events.

    One round trip for what must be two statements: a VOLATILE plpgsql function takes a fresh
    snapshot per statement, so its read sees whatever committed while the lock was awaited.
    """
    return f'"{table.schema}".{PARKED_TABLE}_of' if table.schema else f"{PARKED_TABLE}_of"


def _parked_of_ddl(table: Table, function: str) -> str:
    qualified = f'"{table.schema}".{PARKED_TABLE}' if table.schema else PARKED_TABLE
    # The lock key matches shared.db.parking.lock_dispute: (hashtext(table), hashtext(dispute)).
    return f"""
CREATE OR REPLACE FUNCTION {function}(p_dispute_id text, p_limit integer)
RETURNS SETOF {qualified} LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('{table.fullname}'), hashtext(p_dispute_id));
    RETURN QUERY SELECT * FROM {qualified} WHERE dispute_id = p_dispute_id ORDER BY id LIMIT p_limit;
END
$fn$"""


def qualified_name(table: Table) -> str:
    """`"schema"."table"`, quoted, for the plain SQL the relay, inbox and outbox prepare once."""

    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    return f"{quote(table.schema)}.{quote(table.name)}" if table.schema else quote(table.name)


def notify_channel(schema: str | None) -> str:
    """LISTEN/NOTIFY channel that wakes the relay of `schema`'s outbox."""
    return f"{schema or 'public'}_outbox"
