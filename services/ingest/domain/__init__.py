"""The ingest service's pure rules: case status, reason codes, buyer risk, fees. No I/O here."""
