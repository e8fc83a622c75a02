"""The ingest service: owns sellers, cases (the case read model and its timeline), webhook receipts (SPEC section 2)."""
