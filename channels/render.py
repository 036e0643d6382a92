"""Renders Roadie's neutral Markdown into what each kind of screen shows."""

from __future__ import annotations

import html
import re

from assistant.messages import Reply


def markdown_to_html(text: str) -> str:
    """Safe HTML for the web chat: escaped text with bold, italics, links and bullet lists."""
    out: list[str] = []
    in_list = False
    code: list[str] | None = None  # lines of a ``` block being read: shown as they are, in monospace
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            if code is None:
                code = []
            else:
                out.append("<pre>" + html.escape("\n".join(code)) + "</pre>")
                code = None
            continue
        if code is not None:
            code.append(line)
            continue
        escaped = html.escape(line)
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
        escaped = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", escaped)
        escaped = re.sub(
            r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2" target="_blank" rel="noopener">\1</a>', escaped
        )
        if escaped.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{escaped[2:]}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        out.append(f"<p>{escaped}</p>" if escaped.strip() else "")
    if in_list:
        out.append("</ul>")
    if code is not None:
        out.append("<pre>" + html.escape("\n".join(code)) + "</pre>")
    return "".join(out)


def markdown_to_plain(text: str) -> str:
    """Plain text for terminals and SMS-like screens: emphasis marks removed, bullets kept."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"\1 (\2)", text).replace("\n- ", "\n• ").removeprefix("- ")


def plain_with_options(reply: Reply) -> str:
    """Plain text with buttons as numbered options the person can answer with."""
    text = "\n".join(line for line in markdown_to_plain(reply.text).split("\n") if not line.startswith("```"))
    if reply.image:
        text += f"\n[chart: {reply.image}]"
    if reply.document and reply.document not in text:
        text += f"\n[file: {reply.document}]"
    if reply.buttons:
        text += "\n" + "\n".join(f"  {i}. {b.label}" for i, b in enumerate(reply.buttons, start=1))
    return text
