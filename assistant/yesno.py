"""Reading yes and no: the words that confirm or refuse what Roadie asked."""

from __future__ import annotations

import re

AFFIRMATIVE = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|ya|yas|yess+|y|sure|ok|okay|confirm(?:ed)?|go ahead|do it|please do|absolutely|definitely|"
    r"sí|si|oui|ja|sim)\b(?!\s*,?\s*(?:but|wait))",
    re.IGNORECASE,
)
NEGATIVE = re.compile(
    r"^\s*(?:no|nope|nah|n|cancel that|don'?t|do not|wait|hold on|not now|never ?mind|non|nein|não)\b",
    re.IGNORECASE,
)


def is_affirmative(text: str) -> bool:
    """True when the person's own words say yes ("yes", "yes, book it", "ok", "confirm")."""
    return bool(AFFIRMATIVE.match(text)) and not NEGATIVE.match(text)


def is_negative(text: str) -> bool:
    """True when the person's words say no."""
    return bool(NEGATIVE.match(text))
