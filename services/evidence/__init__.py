"""The evidence service: owns evidence items, blobs, diagnostic reports (SPEC section 2)."""
