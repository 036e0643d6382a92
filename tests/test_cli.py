"""The terminal chat, as a user pipes messages into it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_piped_chat_prints_two_grounded_replies(settings: Settings) -> None:
    env = {
        **os.environ,
        "ROADIE_DATA_DIR": str(settings.data_dir),
        "ROADIE_DATABASE_URL": "",
        "ROADIE_LLM_BASE_URL": "",
        "OPENAI_API_KEY": "",
    }
    result = subprocess.run(
        [sys.executable, "main.py", "chat"],
        input="find Metallica concerts\nwhat about Berlin?\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=True,
    )
    replies = [block for block in result.stdout.strip().split("\n\n") if block.strip()]
    assert len(replies) == 2, result.stdout
    assert "Metallica" in replies[0]
    assert "upcoming show" in replies[0]
    assert "Metallica in Berlin" in replies[1]
    assert "Traceback" not in result.stderr
