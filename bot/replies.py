"""Turn a match into a reply: Telegram-safe HTML text plus buttons as plain data.

Nothing here knows Telegram's classes; the Telegram layer maps :class:`Button` to inline keyboard
buttons and the terminal prints :func:`to_plain` of the same reply, so both show the same thing.
"""

from __future__ import annotations

import html
import re
from collections import deque
from dataclasses import dataclass

from bot.callbacks import (
    CALLBACK_DATA_MAX,
    Callback,
    Feedback,
    MoreDetail,
    NoneOfThese,
    OpenEntry,
    OpenSection,
    Topics,
)
from bot.knowledge import Entry, KnowledgeBase
from bot.matcher import Match, Outcome

TELEGRAM_LIMIT = 4096
BUTTON_LABEL_MAX = 60


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: what it shows and what pressing it means (encoded by :mod:`bot.callbacks`)."""

    label: str
    press: Callback

    @property
    def data(self) -> str:
        """The callback data Telegram carries back (at most 64 bytes; ValueError beyond)."""
        return self.press.encode()


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: HTML text and rows of buttons. ``entry_id`` names the FAQ entry it answers."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    entry_id: str | None = None


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
        body = _links_and_bold(html.escape(stripped[2:] if bullet else stripped, quote=False))
        out_lines.append(f"• {body}" if bullet else body)
    return "\n".join(out_lines)


def _bold(text: str) -> str:
    return _BOLD_RE.sub(r"<b>\1</b>", text)


def _links_and_bold(text: str) -> str:
    """Links first; bold only within a link's label or between links, so tags always nest."""
    out, last = [], 0
    for m in _LINK_RE.finditer(text):
        out.append(_bold(text[last : m.start()]))
        out.append(f'<a href="{m[2].replace(chr(34), "%22")}">{_bold(m[1])}</a>')  # already escaped
        last = m.end()
    out.append(_bold(text[last:]))
    return "".join(out)


def escape(text: str) -> str:
    """Escape untrusted text (a parent's message) for Telegram HTML."""
    return html.escape(text, quote=False)


def label(text: str, limit: int = BUTTON_LABEL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- rendering

TOPICS = Button("📚 Topics", Topics())
NONE_OF_THESE = Button("None of these", NoneOfThese())


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and "①", which ``int`` rejects."""
    return text.isascii() and text.isdigit()


def entry_button(entry: Entry) -> Button:
    return Button(label(entry.question), OpenEntry(entry.id))


MAX_BUTTON_ROWS = 5  # enough related topics without a wall of buttons on a phone


def also_button(entry: Entry) -> Button:
    """Offers the answer to a second question asked in the same message."""
    return Button(label(f"Also: {entry.question}"), OpenEntry(entry.id))


AGAIN = "<i>That is covered in the answer you just had. Here it is again:</i>"


def render_entry(
    entry: Entry,
    kb: KnowledgeBase,
    extra: tuple[Entry, ...] = (),
    also: Entry | None = None,
    *,
    again: bool = False,
) -> Reply:
    """The full answer to one entry, with sources, feedback and related-topic buttons.

    An entry with ``detail`` gets a "More detail" button first, so the answer itself stays short.
    ``also`` is the entry of a second question asked in the same message: offered as "Also: …".
    ``again`` says that a follow-up got the answer just given, so the same text twice is no surprise.
    """
    sources = "\n".join(f'• <a href="{html.escape(s.url)}">{escape(s.title)}</a>' for s in entry.sources)
    text = f"<b>{escape(entry.question)}</b>\n\n{markup_to_html(entry.answer)}\n\n<b>Sources</b>\n{sources}"
    if again:
        text = f"{AGAIN}\n\n{text}"
    rows: list[tuple[Button, ...]] = []
    if entry.detail:
        rows.append((Button("➕ More detail", MoreDetail(entry.id)),))
    rows.append(
        (
            Button("👍 Helpful", Feedback(entry.id, helpful=True)),
            Button("👎 Not helpful", Feedback(entry.id, helpful=False)),
        )
    )
    seen = {entry.id}
    if also is not None and also.id != entry.id:
        rows.append((also_button(also),))
        seen.add(also.id)
    for other_id in (*entry.related, *(e.id for e in extra)):
        other = kb.get(other_id)
        if other is not None and other.id not in seen and len(rows) < MAX_BUTTON_ROWS:
            rows.append((entry_button(other),))
            seen.add(other.id)
    return Reply(text, tuple(rows), entry_id=entry.id)


def render_detail(entry: Entry) -> Reply | None:
    """The "More detail" text of an entry, or None when it has none (a stale button)."""
    if not entry.detail:
        return None
    text = f"<b>{escape(entry.question)}</b>: more detail\n\n{markup_to_html(entry.detail)}"
    return Reply(text, ((TOPICS,),), entry_id=entry.id)


def render_match(
    match: Match, kb: KnowledgeBase, *, logged: bool = True, also: Entry | None = None, again: bool = False
) -> Reply:
    """The reply to one parent's message, whatever the matcher decided (``also``, ``again``: see
    render_entry)."""
    if match.outcome is Outcome.ANSWER and match.entry is not None:
        return render_entry(match.entry, kb, match.suggestions, also=also, again=again)
    if match.outcome is Outcome.SMALLTALK and match.smalltalk is not None:
        return Reply(escape(match.smalltalk.reply), ((TOPICS,),))
    if match.outcome is Outcome.EMPTY:
        return Reply(
            "Please type your question in words, for example: <i>What is the school census?</i>",
            ((TOPICS,),),
        )
    if match.outcome is Outcome.SUGGEST and match.suggestions:
        rows = tuple((entry_button(e),) for e in match.suggestions)
        return Reply(
            "I'm not quite sure what you mean. Did you mean one of these?",
            (*rows, (NONE_OF_THESE,)),
        )
    return Reply(unknown_text(logged=logged), ((TOPICS,),))


# What the bot covers, said whenever it cannot answer: a volunteer is offered for these topics only,
# not as a promise that a person can help with anything at all.
SCOPE = (
    "I only answer questions about the data that schools in England and the Department for "
    "Education (DfE) keep about children: the school census, the National Pupil Database, how long "
    "data is kept, who it is shared with, and your rights."
)


def unknown_text(*, logged: bool) -> str:
    """The "I don't know" reply; ``logged`` says whether the question was kept for volunteers."""
    kept = (
        "I've kept your question, with personal details removed, so volunteers can improve my answers. "
        if logged
        else ""
    )
    return (
        f"I don't know that one, sorry. {SCOPE}\n\n"
        f"{kept}If your question is about these topics and you'd like a person to reply, "
        "send /volunteer followed by your question.\n\nYou can also browse the topics I do know about."
    )


def render_other_script(*, logged: bool = True) -> Reply:
    """The honest reply to a message in a script the bot cannot read (Arabic, Chinese, Bengali…)."""
    told = (
        "I've passed your message to our volunteers, so that a person will see it. I try to remove "
        "emails, phone numbers, postcodes, pupil numbers and dates written in digits "
        "before it is stored, but I can't spot names in other languages, so please leave names out."
        if logged
        else "A volunteer can help: send /volunteer followed by your question."
    )
    return Reply(f"Sorry, I only understand English for now. {told}", ((TOPICS,),))


def section_key(title: str) -> str:
    """A section's stable button id, made from its title ("Census collections" -> "census-collections").

    Buttons carry this rather than a position, so after a reload an old button opens the same section
    or none, never a different one.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[: CALLBACK_DATA_MAX - len("sec:")].rstrip("-") or "section"


def render_sections(kb: KnowledgeBase) -> Reply:
    rows = tuple((Button(label(s.title), OpenSection(section_key(s.title))),) for s in kb.sections)
    return Reply("Choose a topic:", rows)


def render_section(kb: KnowledgeBase, key: str) -> Reply | None:
    """The entries of the section whose :func:`section_key` is ``key``; None if there is none."""
    section = next((s for s in kb.sections if section_key(s.title) == key), None)
    if section is None:
        return None
    rows = tuple((entry_button(kb.entries[i]),) for i in section.entry_ids)
    return Reply(f"<b>{escape(section.title)}</b>", (*rows, (TOPICS,)))


# --------------------------------------------------------------------------- splitting

_TOKEN_RE = re.compile(r"<[^>]*>|&[#a-zA-Z0-9]+;|[^<&]+|[<&]")
_TAG_RE = re.compile(r"<\s*(/?)\s*([a-zA-Z]+)[^>]*>")
_ANY_TAG_RE = re.compile(r"<[^>]*>")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def _pieces(text: str) -> list[str]:
    """Tags, entities, and words with their trailing white space."""
    out: list[str] = []
    for tok in _TOKEN_RE.findall(text):
        if tok.startswith(("<", "&")) and len(tok) > 1:
            out.append(tok)
        else:
            out.extend(re.findall(r"\S+\s*|\s+", tok))
    return out


def _after(stack: tuple[tuple[str, str], ...], piece: str) -> tuple[tuple[str, str], ...]:
    """The open-tag stack once ``piece`` is added."""
    tag = _TAG_RE.fullmatch(piece)
    if not tag:
        return stack
    name = tag.group(2).lower()
    if not tag.group(1):
        return (*stack, (name, piece))
    for k in range(len(stack) - 1, -1, -1):
        if stack[k][0] == name:
            return stack[:k] + stack[k + 1 :]
    return stack


def _closing(stack: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _visible(html_text: str) -> bool:
    return bool(html.unescape(_ANY_TAG_RE.sub("", html_text)).strip())


def _cut(word: str, room: int) -> tuple[str, str]:
    """The longest head of ``word`` within ``room`` UTF-16 units (at least one character)."""
    used = 0
    for n, char in enumerate(word):
        used += utf16_len(char)
        if used > room:
            return word[: max(n, 1)], word[max(n, 1) :]
    return word, ""


def split_html(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split Telegram HTML into parts of at most ``limit`` UTF-16 units, each valid on its own.

    Parts break after a line where no tag is open when one is past half the part; otherwise between
    words, closing the tags open at the break and reopening them in the next part. Entities are never
    cut, a very long word is cut by length, and no part is without visible text.
    """
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    queue = deque(_pieces(text))
    current: list[str] = []
    size = 0
    stack: tuple[tuple[str, str], ...] = ()
    safe = 0  # a cut after current[:safe] leaves no tag open

    def emit(pieces: list[str], open_tags: tuple[tuple[str, str], ...]) -> None:
        body = ("".join(pieces) + _closing(open_tags)).strip()
        if _visible(body):
            parts.append(body)

    def restart(open_tags: tuple[tuple[str, str], ...]) -> None:
        nonlocal current, size, stack, safe
        current = [tag for _, tag in open_tags]
        size = sum(utf16_len(t) for t in current)
        stack, safe = open_tags, 0

    while queue:
        piece = queue.popleft()
        after = _after(stack, piece)
        if size + utf16_len(piece) + utf16_len(_closing(after)) <= limit:
            current.append(piece)
            size += utf16_len(piece)
            stack = after
            if not stack and "\n" in piece:
                safe = len(current)
            continue
        if safe and 2 * sum(utf16_len(p) for p in current[:safe]) > limit:
            head, rest = current[:safe], current[safe:]
            emit(head, ())
            restart(())
            queue.extendleft(reversed([*rest, piece]))  # replayed, so the tag stack is rebuilt
        elif _visible("".join(current)):
            emit(current, stack)
            restart(stack)
            queue.appendleft(piece)
        else:  # nothing visible yet and the piece alone does not fit: a very long word
            room = max(1, limit - size - utf16_len(_closing(stack)))
            cut, tail = _cut(piece, room)
            emit([*current, cut], stack)
            restart(stack)
            if tail:
                queue.appendleft(tail)
    emit(current, stack)
    return parts


def to_plain(text: str) -> str:
    """Telegram HTML as terminal text: links as ``label (url)``, tags dropped, entities decoded."""
    text = re.sub(r'<a href="([^"]*)">(.*?)</a>', lambda m: f"{m[2]} ({html.unescape(m[1])})", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text)
