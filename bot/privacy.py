"""Personal details out, pseudonyms in: what the store keeps about a parent is redacted and keyed.

``redact`` removes what identifies a family (emails, phone numbers, postcodes, pupil numbers, dates
of birth, children's names) before a question is written anywhere. It errs towards keeping text that
only looks like a detail ("year 10", "SI 2013/2094", "in 2018-19"), because volunteers need the
question to answer it. ``pseudonymise`` turns a Telegram id into a keyed hash, so rows of one user can
be found (for /forget) without the id itself being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

MIN_SECRET_CHARS = 16
KEY_BYTES = 32
PSEUDONYM_CHARS = 32
_MAX_PASSES = 5

# --------------------------------------------------------------------------- patterns

_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[A-Za-z]{2,}(?![\w-])"
)

# Unique pupil number: a letter and 12 digits; a temporary UPN ends in a letter instead.
_UPN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][0-9]{11}[0-9A-Za-z](?![A-Za-z0-9])")

# A UK number: +44 / 0044 (optionally "(0)") or a leading 0, then a national number starting 1, 2, 3
# or 7 with 9-10 digits in all, allowing spaces, dashes and brackets between the digits.
_PHONE = re.compile(
    r"(?:(?<![\w+])(?:\+|00)[ ]?44[ \-]?(?:\(0\)[ \-]?)?\(?|(?<![\w+(])\(?0)"
    r"[1237](?:[ \-()]{0,2}[0-9]){8,9}(?![0-9])"
)

# Postcode shapes A9 9AA, A99 9AA, A9A 9AA, AA9 9AA, AA99 9AA, AA9A 9AA with the letters Royal Mail uses.
_POSTCODE = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:[A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?"
    r"|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRV-Y])"
    r"[ ]?([0-9][ABD-HJLNP-UW-Z]{2})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_ORDINAL = re.compile(r"1st|2nd|3rd|[04-9]th")  # "ks2 2nd" is a key stage and an ordinal, not a postcode

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[12][0-9]|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)[0-9]{2}"
_DATE_WORDS = re.compile(
    rf"(?<![A-Za-z0-9]){_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}(?![0-9])"
    rf"|(?<![A-Za-z0-9]){_MONTH}\s+{_DAY},?\s+{_YEAR}(?![0-9])",
    re.IGNORECASE,
)
# 12/03/2015, 12-3-15, 12.03.2015 (same separator twice) and 2015-03-12.
_DATE_DMY = re.compile(
    r"(?<![0-9/.\-])([0-9]{1,2})([/.\-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})(?![0-9]|[/.\-][0-9])"
)
_DATE_ISO = re.compile(
    r"(?<![0-9/.\-])(?:19|20)[0-9]{2}([/.\-])([0-9]{1,2})\1([0-9]{1,2})(?![0-9]|[/.\-][0-9])"
)

# "my son is called X", "my daughter's name is X", "my child named X" all end in one of these.
_NAME_TRIGGER = re.compile(
    r"(?<![\w\[])(?:called|named|name\s+is|name['’]s|names\s+are)\s+(?=[^\W\d_])", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_](?:[\w'’\-]*\w)?")
_SPACES = re.compile(r"[ \t]+")
# Words that follow "called"/"named" without being a name: "I called the school", "named in the report".
_NOT_NAMES = frozenset(
    """a an the this that these those it its me him her them us you my his our your their someone
    something anything everything nothing back out up off in on at to for by about from with into over
    and or but so if as because after before when while what which who whom whose how why where
    again today yesterday tomorrow
    """.split()
)
_PRONOUNS = frozenset({"him", "her", "them"})

# --------------------------------------------------------------------------- redaction


def _valid_day_month(a: int, b: int) -> bool:
    """True if (a, b) reads as day/month either way round (British or American order)."""
    return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)


def _numeric_date(m: re.Match[str]) -> str:
    return "[date]" if _valid_day_month(int(m.group(1)), int(m.group(3))) else m.group(0)


def _iso_date(m: re.Match[str]) -> str:
    month, day = int(m.group(2)), int(m.group(3))
    return "[date]" if 1 <= month <= 12 and 1 <= day <= 31 else m.group(0)


def _phone(m: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", m.group(0))
    for prefix in ("0044", "44", "0"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    digits = digits.removeprefix("0")  # the "(0)" in "+44 (0)7700 …"
    return "[phone]" if 9 <= len(digits) <= 10 else m.group(0)


def _postcode(m: re.Match[str]) -> str:
    return m.group(0) if _ORDINAL.fullmatch(m.group(1)) else "[postcode]"


def _names(text: str) -> str:
    """Replace the word(s) after a naming phrase: up to two capitalised words, else one word."""
    out: list[str] = []
    pos = 0
    for trigger in _NAME_TRIGGER.finditer(text):
        if trigger.start() < pos:
            continue
        first = _WORD.match(text, trigger.end())
        if first is not None and first.group(0).lower() in _PRONOUNS:  # "we called her Lily"
            gap = _SPACES.match(text, first.end())
            first = _WORD.match(text, gap.end()) if gap else None
            if first is not None and not first.group(0)[0].isupper():
                continue
        if first is None or first.group(0).lower() in _NOT_NAMES:
            continue
        end = first.end()
        if first.group(0)[0].isupper():
            gap = _SPACES.match(text, end)
            second = _WORD.match(text, gap.end()) if gap else None
            if second and second.group(0)[0].isupper() and second.group(0).lower() not in _NOT_NAMES:
                end = second.end()
        out.append(text[pos : first.start()])
        out.append("[name]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


_STEPS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_EMAIL, "[email]"),
    (_UPN, "[upn]"),
    (_DATE_WORDS, "[date]"),
    (_DATE_ISO, _iso_date),
    (_DATE_DMY, _numeric_date),
    (_PHONE, _phone),
    (_POSTCODE, _postcode),
)


def _redact_once(text: str) -> str:
    for pattern, replacement in _STEPS:
        text = pattern.sub(replacement, text)
    return _names(text)


def redact(text: str) -> str:
    """Replace personal details with placeholders such as ``[email]`` or ``[name]``.

    The passes repeat until nothing changes, so a replacement can never uncover a new match and
    ``redact(redact(t)) == redact(t)``.
    """
    for _ in range(_MAX_PASSES):
        redacted = _redact_once(text)
        if redacted == text:
            break
        text = redacted
    return text


# --------------------------------------------------------------------------- pseudonyms and the key


def pseudonymise(user_id: int, key: bytes) -> str:
    """A stable, keyed stand-in for a Telegram id (HMAC-SHA256, hex, 32 characters)."""
    return hmac.new(key, str(user_id).encode("ascii"), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]


def load_or_create_key(secret: str | None, key_path: Path) -> bytes:
    """The pseudonymisation key: the configured secret, else the key file, created on first use.

    Losing the key only unlinks old rows from their users (so /forget cannot find them); it never
    exposes anyone, which is why a generated key file is an acceptable default.
    """
    if secret is not None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"The secret (FAQBOT_SECRET) must be at least {MIN_SECRET_CHARS} characters long; "
                f"it has {len(secret)}. Use a long random string, e.g. from `openssl rand -hex 32`."
            )
        return secret.encode("utf-8")
    key_path = Path(key_path)
    try:
        return _read_key(key_path)
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(KEY_BYTES)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _read_key(key_path)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask says
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _read_key(key_path: Path) -> bytes:
    key = key_path.read_bytes()
    if len(key) < MIN_SECRET_CHARS:
        raise ValueError(
            f"The key file {key_path} is too short ({len(key)} bytes) to be a key. "
            "Restore it from a backup, or delete it to start new pseudonyms."
        )
    return key
