"""Telegram HTML from Roadie's Markdown, split into messages that each fit Telegram's limit with balanced tags.

Telegram's HTML mode knows only b, i, u, s, a, code, pre, blockquote and tg-spoiler, so Markdown is
translated line by line: bold, italics, strikethrough, inline code and links become tags, list items
become "• " lines, headings become bold, fenced code becomes <pre>, "> " lines become a blockquote,
and everything else is escaped. Every line renders to self-contained tags, which is what lets a long
message be cut at any line (or, for an overlong line, between spans) without breaking a tag.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

# Inline Markdown, first match wins at each position: code, link, bold, strike, italic.
INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<href>https?://[^)\s]+)\)"
    r"|\*\*(?P<bold>(?!\s)[^\n]+?(?<!\s))\*\*"
    r"|__(?P<bold2>(?!\s)[^\n]+?(?<!\s))__"
    r"|~~(?P<strike>(?!\s)[^\n]+?(?<!\s))~~"
    r"|(?<![\w*])\*(?P<italic>(?![\s*])[^\n*]+?(?<!\s))\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic2>(?![\s_])[^\n_]+?(?<!\s))_(?![\w_])"
)
INLINE_MARKS = re.compile(r"\*\*|__|~~|`")
BULLET = re.compile(r"^(?P<indent>\s*)[-*+]\s+(?P<rest>.*)$")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<rest>.*?)\s*#*\s*$")
QUOTE = re.compile(r"^\s{0,3}>\s?(?P<rest>.*)$")
TAG = re.compile(r"<[^>]*>")
FENCE = re.compile(r"^\s{0,3}```\s*(?P<lang>[\w+#.-]{0,32})\s*$")


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Text escaped for Telegram HTML (only &, < and > are special outside attributes)."""
    return html.escape(text, quote=False)


@dataclass(frozen=True)
class Span:
    """A run of text with the tags around it (outermost first); `href` belongs to an "a" tag."""

    text: str
    tags: tuple[str, ...] = ()
    href: str = ""

    def opening(self) -> str:
        return "".join(f'<a href="{html.escape(self.href)}">' if t == "a" else f"<{t}>" for t in self.tags)

    def closing(self) -> str:
        return "".join(f"</{t}>" for t in reversed(self.tags))

    def render(self) -> str:
        return self.opening() + escape(self.text) + self.closing()


@dataclass(frozen=True)
class Block:
    """Consecutive lines sharing a wrapper: a paragraph line (no wrapper), a <pre> or a <blockquote>."""

    wrapper: str
    lines: tuple[tuple[Span, ...], ...]
    language: str = ""

    def opening(self) -> str:
        if self.wrapper == "pre" and self.language:
            return f'<pre><code class="language-{html.escape(self.language)}">'
        return f"<{self.wrapper}>" if self.wrapper else ""

    def closing(self) -> str:
        if self.wrapper == "pre" and self.language:
            return "</code></pre>"
        return f"</{self.wrapper}>" if self.wrapper else ""


def inline(text: str, extra: tuple[str, ...] = ()) -> list[Span]:
    """Spans for one line of Markdown; `extra` tags (a heading's bold) wrap every span."""
    spans: list[Span] = []
    position = 0
    for match in INLINE.finditer(text):
        if match.start() > position:
            spans.append(Span(text[position : match.start()], extra))
        kind = next(name for name, value in match.groupdict().items() if value is not None and name != "href")
        if kind == "label":
            spans.append(Span(match["label"], (*extra, "a"), match["href"]))
        else:
            tag = {"code": "code", "bold": "b", "bold2": "b", "strike": "s", "italic": "i", "italic2": "i"}[kind]
            spans.append(Span(match[kind], extra if tag in extra else (*extra, tag)))
        position = match.end()
    if position < len(text):
        spans.append(Span(text[position:], extra))
    return spans


def blocks(markdown: str) -> list[Block]:
    """Markdown as blocks: one per ordinary line (blank lines included), one per code fence or quote run."""
    out: list[Block] = []
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if fence := FENCE.match(line):
            code: list[tuple[Span, ...]] = []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                code.append((Span(lines[i]),))
                i += 1
            out.append(Block("pre", tuple(code) or ((Span(" "),),), fence["lang"]))
            i += 1
            continue
        if QUOTE.match(line):
            quoted: list[tuple[Span, ...]] = []
            while i < len(lines) and (quote := QUOTE.match(lines[i])):
                quoted.append(tuple(inline(quote["rest"])))
                i += 1
            out.append(Block("blockquote", tuple(quoted)))
            continue
        if heading := HEADING.match(line):
            spans = inline(INLINE_MARKS.sub("", heading["rest"]), ("b",))
        elif bullet := BULLET.match(line):
            spans = [Span(bullet["indent"] + "• "), *inline(bullet["rest"])]
        else:
            spans = inline(line)
        out.append(Block("", (tuple(spans),)))
        i += 1
    return out


def split_span(span: Span, budget: int) -> tuple[Span, Span | None]:
    """The longest head of `span` that renders within `budget` units (cut at a space when one is near)."""
    overhead = units(span.opening() + span.closing())
    used, cut = overhead, 0
    for index, char in enumerate(span.text):
        cost = units(escape(char))
        if used + cost > budget:
            break
        used += cost
        cut = index + 1
    if cut >= len(span.text):
        return span, None
    space = span.text.rfind(" ", 0, cut)
    if space > cut * 3 // 4:
        cut = space + 1
    if cut == 0:
        return Span("", span.tags, span.href), span
    return Span(span.text[:cut], span.tags, span.href), Span(span.text[cut:], span.tags, span.href)


def line_pieces(spans: tuple[Span, ...], budget: int) -> list[str]:
    """A rendered line, cut between (or inside) spans into pieces of at most `budget` units."""
    pieces: list[str] = []
    current, used = "", 0
    queue = [s if units(s.opening() + s.closing()) * 2 <= budget else Span(f"{s.text} ({s.href})") for s in spans]
    queue.reverse()
    while queue:
        span = queue.pop()
        rendered = span.render()
        if used + units(rendered) <= budget:
            current, used = current + rendered, used + units(rendered)
            continue
        if span.tags and current and units(rendered) <= budget:  # a formatted span moves whole to the next piece
            pieces.append(current)
            current, used = rendered, units(rendered)
            continue
        head, rest = split_span(span, budget - used)
        if not head.text and not current:  # not even one character fits an empty piece: take one anyway
            head, rest = Span(span.text[:1], span.tags, span.href), Span(span.text[1:], span.tags, span.href)
            rest = rest if rest.text else None
        if head.text:
            current += head.render()
        if current:
            pieces.append(current)
        current, used = "", 0
        if rest is not None:
            queue.append(rest)
    if current or not pieces:
        pieces.append(current)
    return pieces


class Chunker:
    """Packs rendered lines into messages of at most `limit` units, preferring cuts at blank lines."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.done: list[str] = []
        self.lines: list[str] = []
        self.used = 0

    def flush(self) -> None:
        text = "\n".join(self.lines).strip("\n")
        if TAG.sub("", text).strip():
            self.done.append(text)
        self.lines, self.used = [], 0

    def add_paragraph(self, paragraph: list[Block]) -> None:
        """Add the blocks between two blank lines, starting a new message rather than splitting them."""
        rendered = [self.render_block(b) for b in paragraph]
        whole = "\n".join(r for r in rendered if r is not None)
        if all(r is not None for r in rendered) and units(whole) <= self.limit:
            if self.used + 1 + units(whole) > self.limit:
                self.flush()
            self.add_line(whole)
            return
        for block in paragraph:
            self.add_block(block)

    def render_block(self, block: Block) -> str | None:
        body = "\n".join("".join(s.render() for s in line) for line in block.lines)
        text = block.opening() + body + block.closing()
        return text if units(text) <= self.limit else None

    def add_line(self, text: str) -> None:
        cost = units(text) + (1 if self.lines else 0)
        if self.used + cost > self.limit:
            self.flush()
            cost = units(text)
        self.lines.append(text)
        self.used += cost

    def add_block(self, block: Block) -> None:
        """Add a block line by line, closing and reopening its wrapper when it spans two messages."""
        wrap = units(block.opening() + block.closing())
        budget = self.limit - wrap
        open_lines: list[str] = []

        def close() -> None:
            if open_lines:
                self.add_line(block.opening() + "\n".join(open_lines) + block.closing())
                open_lines.clear()

        for spans in block.lines:
            for piece in line_pieces(spans, budget):
                candidate = units("\n".join([*open_lines, piece])) + wrap
                if self.used + (1 if self.lines else 0) + candidate > self.limit and open_lines:
                    close()
                    self.flush()
                elif self.used + (1 if self.lines else 0) + candidate > self.limit:
                    self.flush()
                open_lines.append(piece)
        close()


def render_chunks(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Telegram HTML for `markdown`, as messages of at most `limit` UTF-16 units, each with balanced tags."""
    chunker = Chunker(limit)
    paragraph: list[Block] = []
    for block in blocks(markdown):
        blank = not block.wrapper and all(not "".join(s.text for s in line).strip() for line in block.lines)
        if blank:
            if paragraph:
                chunker.add_paragraph(paragraph)
                paragraph = []
            if chunker.lines:
                chunker.add_line("")
            continue
        paragraph.append(block)
    if paragraph:
        chunker.add_paragraph(paragraph)
    chunker.flush()
    return chunker.done
