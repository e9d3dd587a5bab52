"""The one check of Telegram HTML that every test uses (the fake Bot API too): validate, return visible text.

Telegram's rules (https://core.telegram.org/bots/api#html-style): only its tags, balanced and properly
nested; ``<a>`` needs ``href``; entities are ``&lt; &gt; &amp; &quot;`` or numeric. This check is a little
stricter than Telegram, which the bot never relies on: every ``<``, ``>`` and ``&`` that is not markup must
be escaped. With ``bot_rules=True`` it also checks what the bot promises on top: only the tags the bot uses,
no attributes but ``href``, https links only, no link inside a link.
"""

from __future__ import annotations

import html
import re

TELEGRAM_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a code pre blockquote tg-emoji".split()
)
BOT_TAGS = frozenset({"b", "i", "u", "s", "a", "code", "pre"})

_PIECE_RE = re.compile(r"<[^<>]*>|&[^&<>;\s]*;?|[<>&]")
_TAG_RE = re.compile(r"""<(/?)([a-z][a-z-]*)((?:\s+[a-z-]+(?:="[^"<>]*"|='[^'<>]*')?)*)\s*>""")
_ATTR_RE = re.compile(r"""([a-z-]+)(?:="([^"]*)"|='([^']*)')?""")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


class HTMLError(ValueError):
    """Text Telegram would refuse with ``Bad Request: can't parse entities: <this message>``."""


def visible_text(part: str, *, bot_rules: bool = False) -> str:
    """Validate ``part`` as Telegram HTML and return the text Telegram would show; HTMLError if invalid."""
    tags = BOT_TAGS if bot_rules else TELEGRAM_TAGS
    stack: list[str] = []
    out: list[str] = []
    pos = 0
    for m in _PIECE_RE.finditer(part):
        out.append(part[pos : m.start()])
        pos = m.end()
        piece = m.group()
        where = f" at byte offset {len(part[: m.start()].encode())}"
        if piece.startswith("&"):
            if not _ENTITY_RE.fullmatch(piece):
                raise HTMLError(f'Unsupported HTML entity "{piece}"{where}')
            out.append(html.unescape(piece))
            continue
        if piece in ("<", ">"):
            raise HTMLError(f'Unsupported start tag "{piece}"{where}' if piece == "<" else f"Bare >{where}")
        tag = _TAG_RE.fullmatch(piece)
        if not tag:
            raise HTMLError(f"Malformed tag {piece!r}{where}")
        closing, name, attr_text = tag.groups()
        if name not in tags:
            raise HTMLError(f'Unsupported {"end" if closing else "start"} tag "{name}"{where}')
        if closing:
            if attr_text:
                raise HTMLError(f'Attributes on end tag "{name}"{where}')
            if not stack:
                raise HTMLError(f'Unexpected end tag "{name}"{where}')
            if stack[-1] != name:
                raise HTMLError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"{where}')
            stack.pop()
            continue
        attrs = {a: d or s for a, d, s in _ATTR_RE.findall(attr_text)}
        if name == "a" and not attrs.get("href"):
            raise HTMLError(f'Can\'t find "href" attribute of the "a" tag{where}')
        for value in re.findall(r"""="([^"]*)"|='([^']*)'""", attr_text):
            for entity in re.findall(r"&[^;\s]*;?", "".join(value)):
                if not _ENTITY_RE.fullmatch(entity):
                    raise HTMLError(f'Unsupported HTML entity "{entity}" in an attribute{where}')
        if bot_rules:
            if set(attrs) - ({"href"} if name == "a" else set()):
                raise HTMLError(f"attributes {sorted(attrs)} on <{name}>{where}")
            if name == "a":
                if not html.unescape(attrs["href"]).startswith("https://"):
                    raise HTMLError(f"non-https link {attrs['href']!r}{where}")
                if "a" in stack:
                    raise HTMLError(f"a link inside a link{where}")
        stack.append(name)
    out.append(part[pos:])
    if stack:
        raise HTMLError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)
