"""Settings of the submit service: `DD_SUBMIT_*` first, then the common `DD_*`."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from shared.settings import ServiceSettings

# Debian's fonts-wqy-microhei (the Makefile's `install` puts it there): TrueType outlines (glyf), every
# Hangul syllable and simplified Chinese in one face, so reportlab can embed it as a subset.
DEFAULT_LETTER_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


class Settings(ServiceSettings):
    service: ClassVar[str] = "submit"

    port: int = 8005

    # The letters' font (services/submit/letters.py): a glyf TrueType file or collection, and the face in it.
    letter_font_path: Path = DEFAULT_LETTER_FONT
    letter_font_index: int = 0
