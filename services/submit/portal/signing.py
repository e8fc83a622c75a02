"""The client's side of the CEA signature: the pure code is shared with the simulator (`shared/portal_signing.py`)."""

from shared.portal_signing import SignatureInvalid, authorization, sign, signed_date

__all__ = ["SignatureInvalid", "authorization", "sign", "signed_date"]
