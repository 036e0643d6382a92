"""Chat shorthand read as the words it stands for ("yday" is yesterday, "tix" are tickets) before anything else."""

from __future__ import annotations

import re

SHORTHAND = {
    "yday": "yesterday",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmrow": "tomorrow",
    "2moro": "tomorrow",
    "2nite": "tonight",
    "mnth": "month",
    "mth": "month",
    "wk": "week",
    "wkend": "weekend",
    "rev": "revenue",
    "tix": "tickets",
    "tkts": "tickets",
    "u": "you",
    "ur": "your",
    "wen": "when",
    "abt": "about",
    "thx": "thanks",
    "ty": "thank you",
    "ppl": "people",
    "bc": "because",
    "w/": "with",
}
_WORDS = re.compile(
    r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(SHORTHAND, key=len, reverse=True)) + r")(?![\w/])",
    re.IGNORECASE,
)


def expand(text: str) -> str:
    """`text` with chat shorthand spelled out; everything else unchanged."""
    return _WORDS.sub(lambda m: SHORTHAND[m.group(1).lower()], text)
