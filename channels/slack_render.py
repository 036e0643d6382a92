"""Slack's rendering of a Reply: mrkdwn text, Block Kit sections and buttons, split under Slack's limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant.messages import Button, Reply

SECTION_CHARS = 3000  # Block Kit: one text object
MAX_BLOCKS = 50  # Block Kit: one message
BUTTONS_PER_ACTIONS = 25  # Block Kit: one actions block
BUTTON_TEXT_CHARS = 75
BUTTON_VALUE_CHARS = 2000
FALLBACK_CHARS = 3000
ACTION_PREFIX = "roadie_"
PRESSED_BLOCK = "roadie_pressed"

BOLD = re.compile(r"\*\*(.+?)\*\*")
ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
BULLET = re.compile(r"^(\s*)[-*+]\s+")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
FENCE = "```"


@dataclass
class SlackMessage:
    """One chat.postMessage: Block Kit blocks and the plain `text` fallback for notifications."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def escape(text: str) -> str:
    """Slack's three control characters, escaped as Slack asks for in any text it shows."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(line: str) -> str:
    """Emphasis and links of one escaped line: **b** → *b*, *i* → _i_, [t](u) → <u|t>."""
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(f"<{match.group(2)}|{match.group(1).replace('|', '/')}>")
        return f"\x00{len(links) - 1}\x00"

    line = LINK.sub(keep_link, line)
    line = BOLD.sub("\x01\\1\x01", line)
    line = ITALIC.sub(r"_\1_", line).replace("\x01", "*")
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], line)


def _plain_cell(cell: str) -> str:
    return LINK.sub(r"\1 (\2)", ITALIC.sub(r"\1", BOLD.sub(r"\1", cell.strip())))


def table_as_code(rows: list[str]) -> list[str]:
    """A Markdown pipe table as aligned monospace lines inside a ``` fence (Slack has no tables)."""
    cells = [[_plain_cell(c) for c in row.strip().strip("|").split("|")] for row in rows if not TABLE_RULE.match(row)]
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    sizes = [max(len(r[i]) for r in cells) for i in range(width)]
    lines = [" | ".join(c.ljust(sizes[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    if len(lines) > 1:
        lines.insert(1, "-+-".join("-" * s for s in sizes))
    return [FENCE, *(escape(line) for line in lines), FENCE]


def markdown_to_mrkdwn(text: str) -> str:
    """Roadie's Markdown as Slack mrkdwn: bold, italics, links, headings in bold, bullets, tables as code."""
    out: list[str] = []
    lines = text.split("\n")
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(FENCE):
            in_code = not in_code
            out.append(FENCE)
            i += 1
            continue
        if in_code:
            out.append(escape(line))
            i += 1
            continue
        if TABLE_ROW.match(line) and i + 1 < len(lines) and TABLE_RULE.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and TABLE_ROW.match(lines[end]):
                end += 1
            out.extend(table_as_code(lines[i:end]))
            i = end
            continue
        heading = HEADING.match(line)
        if heading:
            out.append("*" + _inline(escape(BOLD.sub(r"\1", heading.group(1)))) + "*")
        else:
            out.append(BULLET.sub(r"\1• ", _inline(escape(line))) if BULLET.match(line) else _inline(escape(line)))
        i += 1
    if in_code:
        out.append(FENCE)
    return "\n".join(out)


def _hard_split(line: str, limit: int) -> list[str]:
    """A line longer than `limit`, cut at spaces where possible."""
    pieces: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(line[:cut])
        line = line[cut:].lstrip(" ")
    return [*pieces, line]


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Pieces of at most `limit` chars, cut at paragraphs, then lines; a cut code block is closed and reopened."""
    reserve = len(FENCE) * 2 + 2
    lines = [piece for line in text.split("\n") for piece in _hard_split(line, limit - reserve)]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    in_code = False
    last_blank = -1  # index in `current` after the last blank line outside code, a good place to cut

    def flush(upto: int) -> None:
        nonlocal current, size, last_blank
        head, rest = current[:upto], current[upto:]
        code_open = sum(1 for x in head if x.strip().startswith(FENCE)) % 2 == 1
        if code_open:
            head.append(FENCE)
            rest.insert(0, FENCE)
        body = "\n".join(head).strip("\n")
        if body:
            chunks.append(body)
        current, size, last_blank = rest, sum(len(x) + 1 for x in rest), -1

    for line in lines:
        if size + len(line) + 1 > limit - reserve and current:
            flush(last_blank if last_blank > 0 else len(current))
        current.append(line)
        size += len(line) + 1
        if line.strip().startswith(FENCE):
            in_code = not in_code
        elif not line.strip() and not in_code:
            last_blank = len(current)
    flush(len(current))
    return chunks or [""]


def _button(action_id: str, button: Button, style: str | None = None) -> dict[str, Any]:
    label = button.label if len(button.label) <= BUTTON_TEXT_CHARS else button.label[: BUTTON_TEXT_CHARS - 1] + "…"
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": button.value,
    }
    if style:
        element["style"] = style
    return element


def _actions(kind: str, buttons: list[Button]) -> list[dict[str, Any]]:
    """Actions blocks (25 buttons each) with unique action ids; values too long for Slack are left out."""
    usable = [b for b in buttons if 0 < len(b.value) <= BUTTON_VALUE_CHARS and b.label]
    elements = [_button(f"{ACTION_PREFIX}{kind}_{n}", b) for n, b in enumerate(usable, start=1)]
    return [
        {"type": "actions", "block_id": f"{ACTION_PREFIX}{kind}s_{i // BUTTONS_PER_ACTIONS}", "elements": group}
        for i in range(0, len(elements), BUTTONS_PER_ACTIONS)
        if (group := elements[i : i + BUTTONS_PER_ACTIONS])
    ]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fallback(sections: list[dict[str, Any]]) -> str:
    text = "\n".join(s["text"]["text"] for s in sections if s.get("type") == "section")
    return text if len(text) <= FALLBACK_CHARS else text[: FALLBACK_CHARS - 1] + "…"


def is_uploaded(image: str) -> bool:
    """True when the image is a file Roadie serves under /media/ (uploaded), not a public URL (an image block)."""
    return not image.startswith(("http://", "https://"))


def render_reply(reply: Reply) -> list[SlackMessage]:
    """The Slack messages for a reply: text sections, a poll, buttons and a linked image, ≤ 50 blocks each."""
    blocks = [_section(piece) for piece in split_text(markdown_to_mrkdwn(reply.text)) if piece.strip()]
    if reply.poll is not None:
        poll = reply.poll
        question = "\n".join(f"{n}. {escape(o)}" for n, o in enumerate(poll.options, start=1))
        blocks += [_section(p) for p in split_text(f"*{escape(poll.question)}*\n{question}")]
        votes = [Button(o, f"vote {poll.poll_id} {n}") for n, o in enumerate(poll.options, start=1)]
        blocks += _actions("vote", votes)
    blocks += _actions("button", reply.buttons)
    if reply.image and not is_uploaded(reply.image):
        blocks.append({"type": "image", "image_url": reply.image, "alt_text": "chart"})
    if not blocks:
        blocks = [_section(" ")]
    messages: list[SlackMessage] = []
    for start in range(0, len(blocks), MAX_BLOCKS):
        part = blocks[start : start + MAX_BLOCKS]
        messages.append(SlackMessage(text=_fallback(part) or "Roadie", blocks=part))
    return messages


def pressed(blocks: list[dict[str, Any]], label: str, user_id: str, vote: bool) -> list[dict[str, Any]]:
    """The pressed message's blocks after a press: buttons removed (kept for a poll) and who chose what shown."""
    kept = [b for b in blocks if b.get("block_id") != PRESSED_BLOCK and (vote or b.get("type") != "actions")]
    earlier = next((b for b in blocks if b.get("block_id") == PRESSED_BLOCK), None)
    lines = [e["text"] for e in earlier["elements"]] if earlier else []
    verb = "voted for" if vote else "chose"
    lines.append(f"✓ <@{user_id}> {verb} *{escape(label)}*")
    note = {
        "type": "context",
        "block_id": PRESSED_BLOCK,
        "elements": [{"type": "mrkdwn", "text": t} for t in lines[-10:]],
    }
    return [*kept, note]
