"""Database plumbing: engine, the session scope that alone commits, outbox and inbox tables."""

from shared.db.backbone import backbone_tables
from shared.db.engine import create_engine, session_factory
from shared.db.session import session_scope

__all__ = ["backbone_tables", "create_engine", "session_factory", "session_scope"]
