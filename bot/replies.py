"""Turn a match into a reply: Telegram-safe HTML text plus buttons as plain data.

Nothing here knows Telegram's classes; the Telegram layer maps :class:`Button` to inline keyboard
buttons and the terminal prints :func:`to_plain` of the same reply, so both show the same thing.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from bot.knowledge import Entry, KnowledgeBase
from bot.matcher import Match, Outcome

TELEGRAM_LIMIT = 4096
BUTTON_LABEL_MAX = 60
CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: ``action`` and ``arg`` become callback data ``action:arg``."""

    label: str
    action: str
    arg: str = ""

    @property
    def data(self) -> str:
        data = f"{self.action}:{self.arg}" if self.arg else self.action
        if len(data.encode()) > CALLBACK_DATA_MAX:
            raise ValueError(f"callback data over {CALLBACK_DATA_MAX} bytes: {data!r}")
        return data


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: HTML text and rows of buttons. ``entry_id`` names the FAQ entry it answers."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    entry_id: str | None = None
    kinds: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- markup

_LINK_RE = re.compile(r"\[([^\]\n]+)\]\((https://[^\s)]+)\)")
_BOLD_RE = re.compile(r"\*\*(.+?)\*\*")


def markup_to_html(text: str) -> str:
    """Convert the FAQ's light markup (``**bold**``, ``[label](https://…)``, ``- `` bullets) to HTML.

    The text is HTML-escaped first, so whatever an author typed can never become a tag.
    """
    out_lines = []
    for line in text.strip().splitlines():
        stripped = line.strip()
        bullet = stripped.startswith("- ")
        body = html.escape(stripped[2:] if bullet else stripped, quote=False)
        body = _LINK_RE.sub(lambda m: f'<a href="{m[2].replace(chr(34), "%22")}">{m[1]}</a>', body)  # escaped
        body = _BOLD_RE.sub(r"<b>\1</b>", body)
        out_lines.append(f"• {body}" if bullet else body)
    return "\n".join(out_lines)


def escape(text: str) -> str:
    """Escape untrusted text (a parent's message) for Telegram HTML."""
    return html.escape(text, quote=False)


def label(text: str, limit: int = BUTTON_LABEL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- rendering

TOPICS = Button("📚 Topics", "topics")
VOLUNTEER = Button("🙋 Ask a volunteer", "vol")
NONE_OF_THESE = Button("None of these", "none")


def entry_button(entry: Entry) -> Button:
    return Button(label(entry.question), "a", entry.id)


def render_entry(entry: Entry, kb: KnowledgeBase, extra: tuple[Entry, ...] = ()) -> Reply:
    """The full answer to one entry, with sources, feedback and related-topic buttons."""
    sources = "\n".join(f'• <a href="{html.escape(s.url)}">{escape(s.title)}</a>' for s in entry.sources)
    text = f"<b>{escape(entry.question)}</b>\n\n{markup_to_html(entry.answer)}\n\n<b>Sources</b>\n{sources}"
    rows: list[tuple[Button, ...]] = [
        (Button("👍 Helpful", "fb", f"up:{entry.id}"), Button("👎 Not helpful", "fb", f"dn:{entry.id}"))
    ]
    seen = {entry.id}
    for other_id in (*entry.related, *(e.id for e in extra)):
        other = kb.get(other_id)
        if other is not None and other.id not in seen and len(rows) < 5:
            rows.append((entry_button(other),))
            seen.add(other.id)
    return Reply(text, tuple(rows), entry_id=entry.id, kinds=("answer",))


def render_match(match: Match, kb: KnowledgeBase, *, logged: bool = True) -> Reply:
    """The reply to one parent's message, whatever the matcher decided."""
    if match.outcome is Outcome.ANSWER and match.entry is not None:
        return render_entry(match.entry, kb, match.suggestions)
    if match.outcome is Outcome.SMALLTALK and match.smalltalk is not None:
        return Reply(escape(match.smalltalk.reply), ((TOPICS,),), kinds=("smalltalk",))
    if match.outcome is Outcome.EMPTY:
        return Reply(
            "Please type your question in words, for example: <i>What is the school census?</i>",
            ((TOPICS,),),
            kinds=("empty",),
        )
    if match.outcome is Outcome.SUGGEST and match.suggestions:
        rows = tuple((entry_button(e),) for e in match.suggestions)
        return Reply(
            "I'm not quite sure what you mean. Did you mean one of these?",
            (*rows, (NONE_OF_THESE,)),
            kinds=("suggest",),
        )
    told = (
        "I've passed your question to our volunteers (with personal details removed), "
        "so that a person can follow it up."
        if logged
        else "A volunteer can help with questions I can't answer: send /volunteer."
    )
    return Reply(
        f"I don't know that one yet, sorry. {told}\n\nYou can also browse the topics I do know about.",
        ((TOPICS,),),
        kinds=("unknown",),
    )


def render_sections(kb: KnowledgeBase) -> Reply:
    rows = tuple((Button(label(s.title), "sec", str(i)),) for i, s in enumerate(kb.sections))
    return Reply("Choose a topic:", rows, kinds=("topics",))


def render_section(kb: KnowledgeBase, index: int) -> Reply | None:
    if not 0 <= index < len(kb.sections):
        return None
    section = kb.sections[index]
    rows = tuple((entry_button(kb.entries[i]),) for i in section.entry_ids)
    return Reply(f"<b>{escape(section.title)}</b>", (*rows, (TOPICS,)), kinds=("section",))


# --------------------------------------------------------------------------- splitting

_TOKEN_RE = re.compile(r"<[^>]*>|&[#a-zA-Z0-9]+;|[^<&]+|[<&]")
_TAG_RE = re.compile(r"<\s*(/?)\s*([a-zA-Z]+)[^>]*>")


def split_html(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split Telegram HTML into chunks of at most ``limit`` characters.

    Chunks break at paragraph, then line, then word boundaries; a tag open at a break is closed at
    the end of its chunk and reopened at the start of the next, and entities are never cut.
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    for tok in _TOKEN_RE.findall(text):
        if tok.startswith("<") or tok.startswith("&") or len(tok) <= 1:
            pieces.append(tok)
        else:
            pieces.extend(re.findall(r"\S+\s*|\s+", tok))
    chunks: list[str] = []
    current = ""
    stack: list[tuple[str, str]] = []  # (name, opening tag)

    def closing() -> str:
        return "".join(f"</{name}>" for name, _ in reversed(stack))

    def flush() -> None:
        nonlocal current
        body = current + closing()
        if body.strip():
            chunks.append(body.strip())
        current = "".join(tag for _, tag in stack)

    budget = limit - 64  # room for closing tags
    for piece in pieces:
        tag = _TAG_RE.fullmatch(piece)
        if len(current) + len(piece) > budget and current.strip():
            # prefer to break at the last paragraph or line break in the chunk
            cut = max(current.rfind("\n\n"), current.rfind("\n"))
            if cut > len(current) // 2 and not stack:
                rest = current[cut:]
                current = current[:cut]
                flush()
                current = rest.lstrip("\n")
            else:
                flush()
        while len(piece) > budget:  # a single very long word
            current += piece[:budget]
            piece = piece[budget:]
            flush()
        current += piece
        if tag:
            closing_tag, name = tag.group(1), tag.group(2).lower()
            if closing_tag:
                for k in range(len(stack) - 1, -1, -1):
                    if stack[k][0] == name:
                        del stack[k]
                        break
            else:
                stack.append((name, piece))
    if current.strip() and current.strip() != "".join(tag for _, tag in stack):
        chunks.append((current + closing()).strip())
    return chunks


def to_plain(text: str) -> str:
    """Telegram HTML as terminal text: links as ``label (url)``, tags dropped, entities decoded."""
    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', lambda m: f"{m[2]} ({html.unescape(m[1])})", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text)
