"""Load and validate the curated FAQ in ``knowledge/`` into an immutable knowledge base.

Every problem is reported as ``file:line: reason`` and nothing is half-loaded: either the
whole directory is valid and a :class:`KnowledgeBase` comes back, or :class:`KnowledgeError`
lists every error found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from bot.text import Language

MAX_ANSWER_CHARS = 3500
MAX_DETAIL_CHARS = 3000  # sent as its own message under a heading, so it fits Telegram's 4,096
MIN_ALTERNATIVES = 4
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SYNONYMS_FILE = "_synonyms.yaml"
SMALLTALK_FILE = "_smalltalk.yaml"
STOPWORDS_FILE = "_stopwords.txt"
IRREGULAR_FILE = "_irregular_verbs.txt"
MISSPELLINGS_FILE = "_misspellings.txt"
_TOKEN = re.compile(r"^[a-z0-9]+$")


def default_knowledge_dir() -> Path:
    """The shipped ``knowledge/`` beside the package (source checkout or editable install)."""
    here = Path(__file__).resolve().parent.parent / "knowledge"
    return here if here.is_dir() else Path.cwd() / "knowledge"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One FAQ entry: a canonical question, its other phrasings, the answer and its sources."""

    id: str
    section: str
    question: str
    alternatives: tuple[str, ...]
    answer: str
    sources: tuple[Source, ...]
    related: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    file: str = ""
    detail: str = ""  # optional longer text behind a "More detail" button; same markup as answer

    @property
    def phrasings(self) -> tuple[str, ...]:
        return (self.question, *self.alternatives)


@dataclass(frozen=True, slots=True)
class SmallTalk:
    """A friendly reply to a greeting, thanks, 'are you a bot?' and the like."""

    id: str
    patterns: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    entry_ids: tuple[str, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """The whole validated FAQ. Immutable: a reload builds a new one."""

    entries: Mapping[str, Entry]
    sections: tuple[Section, ...]
    synonyms: tuple[tuple[str, ...], ...] = ()
    smalltalk: tuple[SmallTalk, ...] = ()
    language: Language = field(default_factory=Language)
    directory: str = ""
    _by_section: Mapping[str, Section] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))
        object.__setattr__(self, "_by_section", MappingProxyType({s.title: s for s in self.sections}))

    def get(self, entry_id: str) -> Entry | None:
        return self.entries.get(entry_id)

    def section(self, title: str) -> Section | None:
        return self._by_section.get(title)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    @property
    def phrasing_count(self) -> int:
        return sum(len(e.phrasings) for e in self)


class KnowledgeError(Exception):
    """The knowledge directory is invalid; ``errors`` holds one ``file:line: reason`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


# --------------------------------------------------------------------------- schema

_Text = Field(min_length=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _SourceModel(_Strict):
    title: str = _Text
    url: str

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlparse(url)
        if parts.scheme != "https" or not parts.netloc or " " in url:
            raise ValueError(f"source url must be an https:// link, got {url!r}")
        return url


class _EntryModel(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=40)  # fits in 64-byte callback data
    question: str = _Text
    alternatives: list[str] = Field(min_length=MIN_ALTERNATIVES)
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    detail: str | None = Field(default=None, min_length=1, max_length=MAX_DETAIL_CHARS)
    sources: list[_SourceModel] = Field(min_length=1)
    related: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    @field_validator("alternatives", "keywords", "related", mode="before")
    @classmethod
    def _numbers_as_text(cls, items: Any) -> Any:
        """YAML reads ``2018`` as a number; a phrasing or keyword like that is meant as text."""
        if isinstance(items, list):
            return [str(i) if isinstance(i, int | float) and not isinstance(i, bool) else i for i in items]
        return items

    @field_validator("alternatives", "keywords")
    @classmethod
    def _no_blank(cls, items: list[str]) -> list[str]:
        for item in items:
            if not str(item).strip():
                raise ValueError("must not contain an empty item")
        return [str(i).strip() for i in items]


class _SectionModel(_Strict):
    section: str = _Text
    entries: list[_EntryModel] = Field(min_length=1)


class _SynonymsModel(_Strict):
    groups: list[list[str]] = Field(default_factory=list)


class _SmallTalkItem(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    patterns: list[str] = Field(min_length=1)
    reply: str = _Text


class _SmallTalkModel(_Strict):
    smalltalk: list[_SmallTalkItem] = Field(default_factory=list)


# --------------------------------------------------------------------------- YAML with line numbers


class _Lines(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class _LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


# libyaml's parser when PyYAML was built with it (the wheels are): the same safe constructors and
# node marks, about five times faster than the pure-Python scanner, which was most of the FAQ's load.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc]  # libyaml or pure Python, chosen at import
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Lines:
    loader.flatten_mapping(node)
    out = _Lines()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest node on ``loc`` that the YAML had (pydantic error locations)."""
    line = getattr(data, "line", 1)
    node = data
    for part in loc:
        if isinstance(node, _Lines) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
        line = getattr(node, "line", line) if isinstance(node, _Lines) else line
    return line


def _describe(err: ErrorDetails) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {err['loc'][-1]!r} (a typo? allowed keys are listed in faq-format.md)"
    if kind == "missing":
        return f"missing required field {loc!r}"
    if kind == "string_too_long" and err["loc"][-1] == "answer":
        return f"answer is {len(err['input'])} characters; the limit is {MAX_ANSWER_CHARS}"
    if kind == "string_too_long" and err["loc"][-1] == "detail":
        return f"detail is {len(err['input'])} characters; the limit is {MAX_DETAIL_CHARS}"
    if kind == "string_pattern_mismatch":
        return f"{loc}: id {err['input']!r} must be lowercase letters, digits and single hyphens"
    if kind == "too_short" and err["loc"][-1] == "alternatives":
        return f"{loc}: needs at least {MIN_ALTERNATIVES} alternatives"
    if kind == "string_too_short":
        return f"{loc} must not be empty"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}"


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path, rel: str, errors: list[str]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{rel}:1: cannot read the file ({exc})")
        return None
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(f"{rel}:{line}: YAML syntax error: {problem}")
        return None


def _validate(model: type[BaseModel], data: Any, rel: str, errors: list[str]) -> Any:
    if not isinstance(data, dict):
        errors.append(f"{rel}:{getattr(data, 'line', 1)}: expected a mapping at the top of the file")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            errors.append(f"{rel}:{_line_of(data, err['loc'])}: {_describe(err)}")
        return None


def _support_lines(root: Path, name: str, errors: list[str]) -> list[tuple[int, list[str]]]:
    """The non-comment lines of a ``_*.txt`` support file as (line number, words).

    A knowledge directory without the file uses the shipped one, so a small test FAQ still
    matches with the everyday-English data."""
    path = root / name
    if not path.is_file():
        path = default_knowledge_dir() / name
        if not path.is_file():
            return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{name}:1: cannot read the file ({exc})")
        return []
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        ws = line.split("#", 1)[0].split()
        if not ws:
            continue
        bad = [w for w in ws if not _TOKEN.match(w)]
        if bad:
            errors.append(f"{name}:{number}: {bad[0]!r} is not a lowercase word (letters and digits only)")
            continue
        out.append((number, ws))
    return out


def _load_language(root: Path, errors: list[str]) -> Language:
    """Stop words, irregular verbs and everyday misspellings from their support files."""
    stop = frozenset(w for _, ws in _support_lines(root, STOPWORDS_FILE, errors) for w in ws)
    irregular: dict[str, str] = {}
    for number, ws in _support_lines(root, IRREGULAR_FILE, errors):
        if len(ws) < 2:
            errors.append(f"{IRREGULAR_FILE}:{number}: expected a verb and at least one of its forms")
        for form in ws[1:]:
            irregular.setdefault(form, ws[0])
    misspellings: dict[str, str] = {}
    for number, ws in _support_lines(root, MISSPELLINGS_FILE, errors):
        if len(ws) < 2:
            errors.append(f"{MISSPELLINGS_FILE}:{number}: expected a misspelling, then the word meant")
        elif ws[0] in misspellings:
            errors.append(f"{MISSPELLINGS_FILE}:{number}: {ws[0]!r} is listed twice")
        else:
            misspellings[ws[0]] = " ".join(ws[1:])
    return Language(stop, MappingProxyType(irregular), MappingProxyType(misspellings))


def load_knowledge(directory: str | Path | None = None) -> KnowledgeBase:
    """Read and validate every ``*.yaml`` in ``directory``; raise :class:`KnowledgeError` if any is bad."""
    root = Path(directory) if directory else default_knowledge_dir()
    errors: list[str] = []
    if not root.is_dir():
        raise KnowledgeError([f"{root}:0: knowledge directory not found"])
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    section_files = [p for p in files if not p.name.startswith("_")]
    if not section_files:
        errors.append(f"{root}:0: no section files (*.yaml) found")

    entries: dict[str, Entry] = {}
    first_seen: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    related_refs: list[tuple[str, str, str]] = []  # (where, entry id, related id)

    for path in section_files:
        rel = path.name
        before = len(errors)
        data = _read_yaml(path, rel, errors)
        if data is None and len(errors) == before:
            errors.append(f"{rel}:1: the file is empty")
        model = _validate(_SectionModel, data, rel, errors) if data is not None else None
        if model is None:
            continue
        entry_nodes = data["entries"]
        for index, em in enumerate(model.entries):
            line = entry_nodes.item_lines[index]
            where = f"{rel}:{line}"
            if em.id in entries:
                errors.append(f"{where}: duplicate id {em.id!r} (first defined at {first_seen[em.id]})")
                continue
            first_seen[em.id] = where
            node = entry_nodes[index]
            rel_lines = node["related"].item_lines if "related" in node else []
            for i, target in enumerate(em.related):
                at = f"{rel}:{rel_lines[i] if i < len(rel_lines) else line}"
                related_refs.append((at, em.id, target))
            entries[em.id] = Entry(
                id=em.id,
                section=model.section,
                question=em.question,
                alternatives=tuple(em.alternatives),
                answer=em.answer.strip(),
                sources=tuple(Source(s.title, s.url) for s in em.sources),
                related=tuple(em.related),
                keywords=tuple(em.keywords),
                file=rel,
                detail=(em.detail or "").strip(),
            )
            sections.setdefault(model.section, []).append(em.id)

    for where, entry_id, target in related_refs:
        if target not in entries:
            errors.append(f"{where}: entry {entry_id!r} has related id {target!r}, which does not exist")
        elif target == entry_id:
            errors.append(f"{where}: entry {entry_id!r} lists itself as related")

    synonyms: list[tuple[str, ...]] = []
    smalltalk: list[SmallTalk] = []
    for path in files:
        if path.name == SYNONYMS_FILE:
            data = _read_yaml(path, path.name, errors)
            model = _validate(_SynonymsModel, data, path.name, errors) if data is not None else None
            if model:
                for i, group in enumerate(model.groups):
                    terms = tuple(t.strip().lower() for t in group if str(t).strip())
                    if len(terms) < 2:
                        line = data["groups"].item_lines[i]
                        errors.append(f"{path.name}:{line}: a synonym group needs at least two terms")
                    else:
                        synonyms.append(terms)
        elif path.name == SMALLTALK_FILE:
            data = _read_yaml(path, path.name, errors)
            model = _validate(_SmallTalkModel, data, path.name, errors) if data is not None else None
            if model:
                smalltalk = [SmallTalk(s.id, tuple(s.patterns), s.reply.strip()) for s in model.smalltalk]

    language = _load_language(root, errors)
    if errors:
        raise KnowledgeError(errors)
    return KnowledgeBase(
        entries=entries,
        sections=tuple(Section(title, tuple(ids)) for title, ids in sections.items()),
        synonyms=tuple(synonyms),
        smalltalk=tuple(smalltalk),
        language=language,
        directory=str(root),
    )
