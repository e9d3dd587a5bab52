"""Personal details out, pseudonyms in: what the store keeps about a parent is redacted and keyed.

``redact`` tries to remove what identifies a family before a question is written anywhere: emails
(also spelt "jane at example dot com"), phone numbers, postcodes, street addresses with a house
number, pupil numbers (UPNs), National Insurance numbers, dates (with a year), web links, and
children's names (after "my son", "called", "child:" and the like, and common first names from
``first_names.txt`` anywhere). Text is NFKC-normalised and stripped of invisible characters first,
so full-width digits, non-breaking and zero-width spaces do not hide a detail. It is best effort: a
surname on its own, an unusual name with no lead-in, a school or a town are not caught. It errs
towards keeping text that only looks like a detail ("year 10", "SI 2013/2094", "in 2018-19"),
because volunteers need the question to answer it. ``pseudonymise`` turns a Telegram id into a keyed
hash, so rows of one user can be found (for /forget) without the id itself being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path

MIN_SECRET_CHARS = 16
KEY_BYTES = 32
PSEUDONYM_CHARS = 32
_MAX_PASSES = 5

# --------------------------------------------------------------------------- patterns

# Characters that show nothing but can split a detail so a pattern misses it (zero-width spaces and
# joiners, word joiner, soft hyphen, BOM, direction marks and overrides).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

_URL = re.compile(r"(?<![\w@])(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)

_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[A-Za-z]{2,}(?![\w-])"
)
# "jane at example dot com", "jane(at)example(dot)co(dot)uk", "jane [at] example.com".
_TLD = r"(?:com|org|net|uk|co|ac|gov|sch|edu|io|me|info|biz|ie|eu)"
_AT_WORD = r"\s*[(\[{<]\s*at\s*[)\]}>]\s*"
_DOT_WORD = r"(?:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+)"
# A plain " at " needs a spelt-out "dot" before the ending, so "I looked at gov.uk" stays.
_SPELT_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w.+-]+{_AT_WORD}[\w-]+(?:(?:\.|{_DOT_WORD})[\w-]+)*(?:\.|{_DOT_WORD}){_TLD}(?![\w-])"
    rf"|(?<![\w.+-])[\w.+-]+\s+at\s+[\w-]+(?:(?:\.|{_DOT_WORD})[\w-]+)*{_DOT_WORD}{_TLD}(?![\w-])",
    re.IGNORECASE,
)

# Unique pupil number: a letter and 12 digits (a temporary UPN ends in a letter instead), also
# written in groups ("A123 4567 8901 2").
_UPN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z](?:[ .\-]?[0-9]){11}[ .\-]?[0-9A-Za-z](?![A-Za-z0-9])")

# National Insurance number: two letters, three pairs of digits, a letter A-D ("QQ 12 34 56 C").
_NINO = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}(?:[ .\-]?[0-9]{2}){3}[ .\-]?[A-D](?![A-Za-z0-9])",
    re.IGNORECASE,
)

# A UK number: +44 / 0044 (optionally "(0)") or a leading 0, then a national number starting 1, 2, 3
# or 7 with 9-10 digits in all, allowing spaces, dots, dashes, slashes and brackets between digits.
_PHONE = re.compile(
    r"(?:(?<![\w+])(?:\+|00)[ ]?44[ .\-]?(?:\(0\)[ .\-]?)?\(?|(?<![\w+(])\(?0)"
    r"[1237](?:[ .\-()/]{0,3}[0-9]){8,9}(?![0-9])"
)

# A house number and a street: "14 Acacia Avenue", "3b mill lane". Words that are also everyday
# words (way, park, close, hill ...) count only when the street name is capitalised.
_STREET_STRONG = (
    r"(?:road|rd|street|st|avenue|ave|lane|ln|drive|crescent|cres|gardens|gdns|terrace|grove|mews"
    r"|boulevard|parade)"
)
_STREET_WEAK = r"(?:Way|Close|Court|Place|Hill|Park|View|Walk|Row|Rise|Square|Green|Croft|Fields|End)"
_STREET = re.compile(
    rf"(?<![\w/.-])[0-9]{{1,4}}[A-Za-z]?,?\s+(?:[A-Za-z'’-]+\s+){{1,3}}{_STREET_STRONG}\.?(?![\w-])",
    re.IGNORECASE,
)
_STREET_CAPS = re.compile(
    rf"(?<![\w/.-])[0-9]{{1,4}}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'’-]+\s+){{1,3}}{_STREET_WEAK}(?![\w-])"
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
    rf"(?<![A-Za-z0-9]){_DAY}\s+(?:of\s+)?{_MONTH},?\s+(?:{_YEAR}|'?[0-9]{{2}})(?![0-9])"
    rf"|(?<![A-Za-z0-9]){_MONTH}\s+{_DAY},?\s+{_YEAR}(?![0-9])"
    rf"|(?<![A-Za-z0-9]){_MONTH},?\s+{_YEAR}(?![0-9])",  # "March 2015": month and year
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
# "my son John", "our daughter, Emily,", "my son is John", "child: John Smith": a name may follow.
_RELATIVE = (
    r"(?:son|daughter|child|kid|boy|girl|stepson|stepdaughter|step-son|step-daughter|grandson"
    r"|granddaughter|twin|baby|toddler|nephew|niece|foster\s+child|little\s+one)s?"
)
_RELATIVE_TRIGGER = re.compile(
    rf"(?<![\w\[])(?:(?:my|our|his|her|their)\s+(?:(?:eldest|oldest|youngest|little|older|younger"
    rf"|middle|big|[0-9]+[- ]year[- ]old)\s+)*{_RELATIVE}(?:\s*[,:(\-–]\s*|\s+(?:is|was)\s+|\s+)"
    rf"|(?:child|son|daughter|pupil|student|child['’]s\s+name|full\s+name|name)\s*:\s*)"
    rf"(?=[^\W\d_])",
    re.IGNORECASE,
)
# Capitalised words that follow a relative without being a name ("my son Is In Year 6").
_NOT_NAMES_AFTER_RELATIVE = frozenset(
    """is was has had does did can will may might must would could should goes went gets got gives
    also just now still only even never always often really very too not no yes all both
    year years reception nursery school primary secondary academy college sixth form class
    term age aged who and but or mr mrs ms miss dr sir i im i'm he she they we
    """.split()
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


@cache
def _first_names() -> tuple[frozenset[str], frozenset[str]]:
    """(names removed anywhere, names removed only after a lead-in), lowercase, from first_names.txt."""
    anywhere: set[str] = set()
    after_lead_in: set[str] = set()
    for line in files("bot").joinpath("first_names.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, flag = line.partition(" ")
        (after_lead_in if flag.strip() == "*" else anywhere).add(name.lower())
    return frozenset(anywhere), frozenset(after_lead_in)


@cache
def _everyday_words() -> frozenset[str]:
    """Everyday English words of five letters or more (the typo corrector's list, bot/common_words.txt)."""
    text = files("bot").joinpath("common_words.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


# --------------------------------------------------------------------------- redaction


def clean_text(text: str) -> str:
    """NFKC (full-width digits, non-breaking spaces to plain ones), invisible characters removed, and any
    lone UTF-16 surrogate (which cannot be stored) replaced by U+FFFD."""
    text = _SURROGATE.sub("\ufffd", text)
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


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


def _split_possessive(word: str) -> tuple[str, str]:
    """("Emily", "'s") for "Emily's", so the name goes and the grammar stays."""
    for suffix in ("'s", "’s"):
        if word.lower().endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)], word[-len(suffix) :]
    return word, ""


def _looks_like_name(word: str) -> bool:
    """After "my son" and the like: a listed first name, or a capitalised word that is not an everyday
    one (and not an acronym such as EHCP)."""
    anywhere, after_lead_in = _first_names()
    lower = word.lower()
    if lower in anywhere or lower in after_lead_in:
        return True
    if not word[0].isupper() or (len(word) > 1 and word.isupper()):
        return False
    stop = lower in _NOT_NAMES or lower in _NOT_NAMES_AFTER_RELATIVE
    return not stop and lower not in _everyday_words()


def _relative_names(text: str) -> str:
    """Replace up to two name-like words after "my son", "our daughter," "child:" and the like."""
    out: list[str] = []
    pos = 0
    for trigger in _RELATIVE_TRIGGER.finditer(text):
        if trigger.start() < pos:
            continue
        first = _WORD.match(text, trigger.end())
        if first is None:
            continue
        word, tail = _split_possessive(first.group(0))
        if not _looks_like_name(word):
            continue
        end, keep = first.end(), tail
        if not tail and word[0].isupper():
            gap = _SPACES.match(text, end)
            second = _WORD.match(text, gap.end()) if gap else None
            if second is not None:  # a surname: any capitalised word that is not a little word
                word2, tail2 = _split_possessive(second.group(0))
                lower2 = word2.lower()
                if (
                    word2[0].isupper()
                    and not (len(word2) > 1 and word2.isupper())
                    and lower2 not in _NOT_NAMES
                    and lower2 not in _NOT_NAMES_AFTER_RELATIVE
                ):
                    end, keep = second.end(), tail2
        out.append(text[pos : first.start()])
        out.append("[name]" + keep)
        pos = end
    out.append(text[pos:])
    return "".join(out)


_CAPITALISED_WORD = re.compile(r"(?<![\w\[])[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?![\w\]])")


def _listed_names(text: str) -> str:
    """Replace capitalised common first names wherever they stand ("Emily was excluded")."""
    anywhere, _ = _first_names()
    return _CAPITALISED_WORD.sub(lambda m: "[name]" if m.group(0).lower() in anywhere else m.group(0), text)


_STEPS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_URL, "[link]"),
    (_EMAIL, "[email]"),
    (_SPELT_EMAIL, "[email]"),
    (_NINO, "[NI number]"),
    (_UPN, "[upn]"),
    (_DATE_WORDS, "[date]"),
    (_DATE_ISO, _iso_date),
    (_DATE_DMY, _numeric_date),
    (_PHONE, _phone),
    (_POSTCODE, _postcode),
    (_STREET, "[address]"),
    (_STREET_CAPS, "[address]"),
)


def _redact_once(text: str) -> str:
    for pattern, replacement in _STEPS:
        text = pattern.sub(replacement, text)
    return _listed_names(_relative_names(_names(text)))


def redact(text: str) -> str:
    """Replace personal details with placeholders such as ``[email]`` or ``[name]``.

    The text is cleaned first (:func:`clean_text`). The passes repeat until nothing changes, so a
    replacement can never uncover a new match and ``redact(redact(t)) == redact(t)``.
    """
    text = clean_text(text)
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


def key_fingerprint(key: bytes) -> str:
    """A short keyed digest that tells two keys apart without revealing either (kept in the database)."""
    return hmac.new(key, b"faqbot pseudonym key fingerprint v1", hashlib.sha256).hexdigest()[:32]


def load_or_create_key(secret: str | None, key_path: Path) -> bytes:
    """The pseudonymisation key: the configured secret, else the key file, created on first use.

    Losing the key would unlink old rows from their users (so /forget could not find them); the store
    notices a changed key by its fingerprint and refuses it. Whoever holds both the key and the
    database can reverse a pseudonym by trying every possible Telegram id, so keep the key out of
    database backups (FAQBOT_KEY_FILE can put it in another folder).
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
