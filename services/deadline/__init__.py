"""The deadline service: owns deadlines and reminders (SPEC section 2)."""
