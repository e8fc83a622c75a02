"""Settings of the submit service: `DD_SUBMIT_*` first, then the common `DD_*`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from shared.settings import BlobStoreSettings

# Debian's fonts-wqy-microhei (the Makefile's `install` puts it there): TrueType outlines (glyf), every
# Hangul syllable and simplified Chinese in one face, so reportlab can embed it as a subset.
DEFAULT_LETTER_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

# The portal simulator's development credentials (services/portal_sim/settings.py has the same values):
# known to everyone, for `make run` and the tests only.
DEV_PORTAL_ACCESS_KEY = "dev-portal-access-key"
DEV_PORTAL_SECRET_KEY = "dev-portal-secret-key"
DEV_PORTAL_WEBHOOK_SECRET = "whsec_ZGV2LXBvcnRhbC13ZWJob29rLXNlY3JldC0zMmJ5dGVzIQ=="


class Settings(BlobStoreSettings):
    service: ClassVar[str] = "submit"

    port: int = 8005

    # The letters' font (services/submit/letters.py): a glyf TrueType file or collection, and the face in it.
    letter_font_path: Path = DEFAULT_LETTER_FONT
    letter_font_index: int = 0

    # Where the evidence files come from: `GET {evidence_url}/v1/cases/{id}/evidence/{eid}/content`.
    evidence_url: str = "http://127.0.0.1:8002"
    evidence_timeout_s: float = Field(default=30.0, gt=0)
    # The local store's packages (content-addressed, root/ab/cd/<sha256>); packages are built under it with
    # either store (DD_BLOB_STORE=local|s3, shared.settings.BlobStoreSettings, docs/blob-store.md).
    package_root: Path = Path(".local/blobs/submit")
    # With DD_BLOB_STORE=s3: keys `packages/ab/cd/<sha256>` in the bucket.
    blob_s3_prefix: str = "packages"

    # The http adapter's portal (a seller's own `endpoint` wins) and its credentials: one pair for
    # every seller for now (per-seller sealed keys are a later step; README "Decisions").
    portal_url: str = "http://127.0.0.1:8099"
    portal_access_key: str = DEV_PORTAL_ACCESS_KEY
    portal_secret_key: str = DEV_PORTAL_SECRET_KEY
    # One portal call's timeout, and the attempts of a call before the submission is left to the reconciler.
    portal_timeout_s: float = Field(default=10.0, gt=0)
    portal_max_attempts: int = Field(default=5, ge=1)
    # At most `portal_rate_per_s` calls per second per seller, across replicas (a bucket row in
    # PostgreSQL); `portal_rate_burst` tokens at most saved up (1: evenly spaced calls).
    portal_rate_per_s: float = Field(default=10.0, gt=0)
    portal_rate_burst: float = Field(default=1.0, ge=1)
    # The portal's Standard Webhooks secret for `POST /v1/portal/verdicts` (DD_PORTAL_WEBHOOK_SECRET too).
    portal_webhook_secret: str = DEV_PORTAL_WEBHOOK_SECRET

    # The reconciler: a `pending` http submission older than this is completed by asking the portal.
    reconcile_after_s: float = Field(default=30.0, ge=0)
    # The verdict poller: a receipted case with no verdict after this long is asked about, then every
    # `verdict_poll_interval_s`.
    verdict_poll_after_s: float = Field(default=600.0, ge=0)
    verdict_poll_interval_s: float = Field(default=300.0, gt=0)
    # The reconciler's and poller's rows per pass, and their longest sleep when nothing wakes them.
    worker_batch: int = Field(default=20, ge=1)
    worker_max_sleep_s: float = Field(default=5.0, gt=0)
