"""The submit service: owns submissions, receipts, verdicts (SPEC section 2)."""
