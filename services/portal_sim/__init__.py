"""A stand-in for the Coupang dispute portal (development and tests only): services/portal_sim/README.md."""
