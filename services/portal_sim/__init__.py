"""A stand-in for the Coupang dispute portal (development and tests only).

For now it only answers health checks; the portal API, CEA signing and injectable faults
arrive with the submit service's issue.
"""
