"""The notify service: owns preferences, notifications, delivery attempts (SPEC section 2)."""
