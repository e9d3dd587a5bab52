"""The ``faqbot`` command: check the FAQ, ask it, match in bulk, chat offline, run the bot."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from bot.callbacks import Callback, Feedback, MoreDetail, NoneOfThese, OpenEntry, OpenSection, Topics
from bot.config import ConfigError, Settings, load_settings
from bot.conversation import ConversationMemory, Turn, understand
from bot.knowledge import KnowledgeError, load_knowledge
from bot.live import Snapshot, build
from bot.matcher import Outcome
from bot.replies import (
    Reply,
    is_number,
    render_detail,
    render_entry,
    render_match,
    render_other_script,
    render_section,
    render_sections,
    to_plain,
)
from bot.semantic import single_threaded_blas

if TYPE_CHECKING:  # the store (and aiosqlite) is imported only by the commands that use it
    from bot.store import LogItem, Store


def _settings_or_exit() -> Settings:
    """The settings, or exit 2 with every configuration problem listed (no command swallows them)."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise SystemExit(2) from None


def _load(arg: str | None, settings: Settings) -> Snapshot:
    """Load the FAQ (``arg``, else FAQBOT_KNOWLEDGE, else the shipped one) or exit 1 with every error."""
    try:
        return build(arg or settings.knowledge_dir, settings.match)
    except KnowledgeError as exc:
        print("The knowledge base is invalid:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        raise SystemExit(1) from None


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    directory = args.directory or _settings_or_exit().knowledge_dir
    try:
        kb = load_knowledge(directory)
    except KnowledgeError as exc:
        for err in exc.errors:
            print(err)
        print(f"{len(exc.errors)} error(s); the knowledge base was not loaded.")
        return 1
    print(f"OK: {kb.directory}")
    print(f"  {len(kb.sections)} sections, {len(kb)} entries, {kb.phrasing_count} phrasings")
    print(f"  {len(kb.synonyms)} synonym groups, {len(kb.smalltalk)} small-talk replies")
    lang = kb.language
    print(
        f"  {len(lang.stop_words)} stop words, {len(lang.irregular)} irregular verb forms,"
        f" {len(lang.misspellings)} everyday misspellings"
    )
    for section in kb.sections:
        print(f"  - {section.title}: {len(section.entry_ids)} entries")
    return 0


def _print_reply(reply: Reply, numbered: bool = False) -> list[Callback]:
    """Print a reply as terminal text; return what its buttons do, in the numbered order."""
    print(to_plain(reply.html))
    options: list[Callback] = []
    for row in reply.buttons:
        for button in row:
            if numbered:
                options.append(button.press)
                print(f"  [{len(options)}] {button.label}")
            else:
                print(f"  • {button.label}")
    return options


def _render_turn(turn: Turn, snap: Snapshot) -> Reply:
    """The reply to an understood message, outside Telegram (nothing is logged here)."""
    if turn.other_script:
        return render_other_script(logged=False)
    return render_match(turn.match, snap.kb, logged=False, also=turn.also, again=turn.again)


def cmd_ask(args: argparse.Namespace) -> int:
    snap = _load(args.knowledge, _settings_or_exit())
    question = " ".join(args.question)
    turn = understand(snap, question)
    match = turn.match
    _print_reply(_render_turn(turn, snap))
    if args.verbose:
        also = f" also={turn.also.id}" if turn.also else ""
        print(f"\n[{match.outcome.value} score={match.score:.3f} best={match.best_id}{also}]")
    return 0


def match_json(snap: Snapshot, question: str) -> dict[str, object]:
    """One line of the ``faqbot match --json`` contract (../shared/faq-format.md)."""
    if not question.strip():
        return {"id": None, "score": 0.0, "suggestions": []}
    m = snap.match(question)
    return {
        "id": m.entry.id if m.outcome is Outcome.ANSWER and m.entry else None,
        "score": round(float(m.score), 4),
        "suggestions": [e.id for e in m.suggestions][:3],
    }


# Lines matched at once by ``faqbot match --json``: the sentence encoder releases the GIL, so one
# line's encoder run overlaps another line's Python scoring. Each line is still matched alone.
_MATCH_WORKERS = 2
# Lines read ahead of the one being written: bounds memory on a long input.
_MATCH_AHEAD = 64


def match_lines(
    snap: Snapshot, lines: Iterable[str], write: Callable[[str], object], flush: Callable[[], object]
) -> None:
    """``faqbot match --json`` over ``lines``: one JSON line each, written in input order.

    Every line is matched on its own, exactly as :func:`match_json` would one at a time (the
    matcher is stateless across questions and each text is encoded alone), but up to
    ``_MATCH_WORKERS`` lines are matched concurrently. A reader thread feeds the workers while
    this thread writes results as they complete, flushing whenever it has caught up with the
    input, so a line typed interactively is answered before the next one is read.
    """
    ahead: queue.Queue[Future[dict[str, object]] | None] = queue.Queue(maxsize=_MATCH_AHEAD)
    failed: list[BaseException] = []

    def read(pool: ThreadPoolExecutor) -> None:
        try:
            for line in lines:
                ahead.put(pool.submit(match_json, snap, line.rstrip("\r\n")))
        except BaseException as exc:  # handed to the writer: nothing is lost silently
            failed.append(exc)
        finally:
            ahead.put(None)

    with ThreadPoolExecutor(_MATCH_WORKERS, thread_name_prefix="match") as pool:
        reader = threading.Thread(target=read, args=(pool,), name="match-reader", daemon=True)
        reader.start()
        while (future := ahead.get()) is not None:
            write(json.dumps(future.result(), ensure_ascii=False) + "\n")
            if ahead.empty():
                flush()
    flush()
    if failed:
        raise failed[0]


def cmd_match(args: argparse.Namespace) -> int:
    if not args.json:
        print("faqbot match: only --json output is supported (see faqbot match --help)", file=sys.stderr)
        return 2
    snap = _load(args.knowledge, _settings_or_exit())
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", newline=None, closefd=False)  # noqa: SIM115
    match_lines(snap, stdin, sys.stdout.write, sys.stdout.flush)
    return 0


CHAT_HELP = (
    "Type a question, a number to press a button, /topics to browse, /help for this text, "
    "/forget to clear the last topic, or /quit to leave. Nothing you type here is stored; "
    "the last answer is remembered in memory for 10 minutes, for follow-up questions."
)
CHAT_KEY = (0, 0)  # the terminal is one chat with one person


def cmd_chat(args: argparse.Namespace) -> int:
    snap = _load(args.knowledge, _settings_or_exit())
    kb = snap.kb
    print(f"faqbot chat: {len(kb)} answers loaded. {CHAT_HELP}\n")
    options: list[Callback] = []
    memory = ConversationMemory()  # follow-ups work as in Telegram
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if text in ("/quit", "/exit", "quit", "exit"):
            return 0
        if not text:
            continue
        reply: Reply | None
        if text == "/help":
            print(CHAT_HELP)
            continue
        if text == "/forget":
            memory.forget_user(CHAT_KEY[1])
            print("Done: I forgot the last topic. (Nothing else is held in chat mode.)")
            continue
        if text in ("/topics", "/start"):
            reply = render_sections(kb)
        elif is_number(text) and 1 <= int(text) <= len(options):
            reply = _press(snap, options[int(text) - 1])
        else:
            last = memory.last(CHAT_KEY)
            reply = _render_turn(understand(snap, text, kb.get(last) if last else None), snap)
        if reply is not None and reply.entry_id is not None:
            memory.remember(CHAT_KEY, reply.entry_id)
        print()
        options = _print_reply(reply, numbered=True) if reply else []
        print()


def _press(snap: Snapshot, press: Callback) -> Reply | None:
    """What pressing a button does in chat mode (the same buttons as in Telegram; nothing is stored)."""
    kb = snap.kb
    if isinstance(press, OpenEntry) and (entry := kb.get(press.entry_id)):
        return render_entry(entry, kb)
    if isinstance(press, MoreDetail) and (entry := kb.get(press.entry_id)):
        return render_detail(entry)
    if isinstance(press, OpenSection):
        return render_section(kb, press.slug)
    if isinstance(press, Topics):
        return render_sections(kb)
    if isinstance(press, Feedback):
        print("Thank you for the feedback.")
        return None
    if isinstance(press, NoneOfThese):
        print("In the Telegram bot this passes your question to a volunteer; chat mode stores nothing.")
        return None
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from bot.telegram.app import run

    return run(args)


# --------------------------------------------------------------------------- log and reload


def cmd_log(args: argparse.Namespace) -> int:
    """``faqbot log ...``: the question log for volunteers and admins, without Telegram."""
    import asyncio

    from bot.privacy import load_or_create_key
    from bot.store import Store, StoreError

    if args.action == "purge" and args.days is not None and not 1 <= args.days <= MAX_DAYS:
        print(
            f"--days is how many days of questions to keep: a whole number from 1 to {MAX_DAYS}, "
            f"got {args.days}. Nothing was purged.",
            file=sys.stderr,
        )
        return 2
    settings = _settings_or_exit()
    db = settings.db_path
    if not db.exists():
        print(
            f"No database at {db} yet: the bot has not logged anything. (Set FAQBOT_DB to use another file.)"
        )
        return 0 if args.action in ("list", "suggestions", "purge") else 1

    reset = args.action == "reset-key"
    if reset and not args.yes:
        print(
            "faqbot log reset-key deletes every logged question, pending reply and vote, and makes the\n"
            "current key (FAQBOT_SECRET or the key file) the database's key. Answer counts are kept.\n"
            "Use it when the old key is lost for good. Run it again with --yes to go ahead.",
            file=sys.stderr,
        )
        return 1

    async def work() -> int:
        try:
            key = load_or_create_key(settings.secret, settings.key_path)
            store = await Store.open(db, key, reset_key=reset)
        except (StoreError, ValueError) as exc:
            print(f"Cannot open the database: {exc}", file=sys.stderr)
            return 1
        try:
            return await _log_action(args, store, settings.retention_days)
        finally:
            await store.close()

    return asyncio.run(work())


_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def visible(text: str, keep: str = "") -> str:
    """``text`` safe to print on a terminal: control, format (bidi, zero-width), surrogate and unassigned
    characters are shown as escapes (``\\x1b``, ``\\u202e``) instead of acting on the terminal.
    Characters in ``keep`` (e.g. a newline) are left as they are."""
    out = []
    for char in text:
        if char not in keep and unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            code = ord(char)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append("\\" + {2: "x", 4: "u", 8: "U"}[width] + f"{code:0{width}x}")
        else:
            out.append(char)
    return "".join(out)


MAX_DAYS = 3650  # as FAQBOT_RETENTION_DAYS


def _table(rows: list[list[str]], headers: list[str], width: int = 110) -> str:
    """A plain-text table; the last column is cut to fit ``width``."""
    cols = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    room = max(20, width - sum(cols[:-1]) - 2 * (len(cols) - 1))
    cols[-1] = min(cols[-1], room)

    def line(cells: list[str]) -> str:
        out = [c.ljust(cols[i]) if i < len(cells) - 1 else c for i, c in enumerate(cells)]
        text = "  ".join(out)
        return text if len(text) <= width else text[: width - 1] + "…"

    return "\n".join([line(headers), line(["-" * c for c in cols]), *(line(r) for r in rows)])


async def _existing_item(store: Store, item_id: int) -> LogItem | None:
    """The log item ``item_id``, or None after telling the user there is no such item."""
    item = await store.get_log(item_id)
    if item is None:
        print(f"No log item #{item_id}.", file=sys.stderr)
    return item


async def _log_action(args: argparse.Namespace, store: Store, retention_days: int) -> int:
    if args.action == "reset-key":
        print("Done: the personal rows are deleted and the current key is now the database's key.")
        return 0
    if args.action == "list":
        status = None if args.status == "all" else args.status
        items = await store.list_log(status, limit=args.limit)
        if not items:
            print(f"No {'' if status is None else status + ' '}questions in the log.")
            return 0
        rows = [
            [
                str(i.id),
                i.created_at[:16].replace("T", " "),
                i.reason,
                i.status,
                visible(i.best_id or "-"),
                f"{i.score:.2f}",
                visible(" ".join(i.text.split())),
            ]
            for i in items
        ]
        print(_table(rows, ["id", "created (UTC)", "reason", "status", "best match", "score", "question"]))
        total = await store.count_log(status)
        if total > len(items):
            print(f"({len(items)} of {total} shown; use --limit to see more)")
        return 0
    if args.action == "show":
        item = await _existing_item(store, args.id)
        if item is None:
            return 1
        for name in (f.name for f in dataclasses.fields(item)):
            print(f"{name:>14}: {visible(str(getattr(item, name)), keep=chr(10))}")
        return 0
    if args.action == "export":
        try:
            count = await store.export_csv(args.csv)
        except OSError as exc:
            print(f"Cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"Exported {count} log item(s) to {args.csv}.")
        return 0
    if args.action == "dismiss":
        item = await _existing_item(store, args.id)
        if item is None:
            return 1
        if item.status != "open":
            print(f"#{args.id} is already {item.status}.")
            return 0
        await store.set_status(args.id, "dismissed")
        print(f"#{args.id} dismissed.")
        return 0
    if args.action == "suggestions":
        import yaml

        found = await store.suggestions()
        if not found:
            print("# No attached questions yet.")
            return 0
        print("# Questions volunteers attached to entries: paste under each entry's `alternatives`.")
        for entry_id, texts in sorted(found.items()):
            print(f"# {entry_id}")
            print(
                yaml.safe_dump({"alternatives": sorted(set(texts))}, allow_unicode=True, sort_keys=False),
                end="",
            )
        return 0
    if args.action == "purge":
        days = retention_days if args.days is None else args.days
        removed = await store.purge(days)
        print(f"Purged {removed} row(s) older than {days} days.")
        return 0
    return 2


def cmd_reload(args: argparse.Namespace) -> int:
    """Validate the FAQ, then tell the running bot (SIGHUP through its pid file) to reload it."""
    import signal

    settings = _settings_or_exit()
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as exc:
        print("The knowledge base is invalid, so the running bot was not asked to reload:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        return 1
    import fcntl

    pid_file = settings.db_path.with_suffix(".pid")
    try:
        fd = os.open(pid_file, os.O_RDONLY)
    except OSError:
        print(f"No running bot found (no {pid_file}). Start it with: faqbot run", file=sys.stderr)
        return 1
    try:
        # The running bot holds an exclusive lock on its pid file; if we can lock it, nobody does, and
        # the pid in it is stale (after a crash it may now belong to any other program).
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = int(os.read(fd, 32).decode("ascii", "replace").strip() or 0)
        else:
            print(
                f"No running bot found: {pid_file} is left over from a bot that did not stop cleanly, so "
                "its pid was not signalled. Start the bot with: faqbot run",
                file=sys.stderr,
            )
            return 1
        if pid <= 0:
            raise ValueError(pid)
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        print(f"No running bot found (no live pid in {pid_file}). Start it with: faqbot run", file=sys.stderr)
        return 1
    finally:
        os.close(fd)
    print(f"The FAQ is valid ({len(kb)} entries); asked the bot (pid {pid}) to reload it.")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faqbot",
        description="Answers parents' questions about the pupil data English schools and the DfE collect.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="validate the knowledge base and print a summary (exit 1 on error)")
    p.add_argument("directory", nargs="?", help="knowledge directory (default: the shipped knowledge/)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("ask", help="print the reply the bot would send to one question")
    p.add_argument("question", nargs="+", help="the question, in quotes")
    p.add_argument("--knowledge", metavar="DIR", help="knowledge directory")
    p.add_argument("-v", "--verbose", action="store_true", help="also print the matcher's decision and score")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("match", help="match questions from stdin, one JSON object per line (for evaluation)")
    p.add_argument("--json", action="store_true", help="write JSON lines (the only output format)")
    p.add_argument("--knowledge", metavar="DIR", help="knowledge directory")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("chat", help="talk to the bot in the terminal (no Telegram token needed)")
    p.add_argument("--knowledge", metavar="DIR", help="knowledge directory")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("run", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("reload", help="validate the FAQ and make the running bot reload it (SIGHUP)")
    p.set_defaults(func=cmd_reload)

    p = sub.add_parser(
        "log", help="review the log of unanswered questions (list, show, export, dismiss, ...)"
    )
    logs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = logs.add_parser("list", help="list logged questions, oldest first")
    q.add_argument("--status", default="open", choices=["open", "answered", "attached", "dismissed", "all"])
    q.add_argument("--limit", type=int, default=50, help="how many to show (default 50)")
    q = logs.add_parser("show", help="show one logged question")
    q.add_argument("id", type=int)
    q = logs.add_parser("export", help="export the whole log as CSV")
    q.add_argument("--csv", required=True, metavar="FILE")
    q = logs.add_parser("dismiss", help="dismiss a logged question (spam or noise)")
    q.add_argument("id", type=int)
    logs.add_parser(
        "suggestions", help="print attached questions as YAML alternatives to paste into knowledge/"
    )
    q = logs.add_parser(
        "reset-key", help="after the pseudonym key was lost: delete every personal row and adopt the new key"
    )
    q.add_argument("--yes", action="store_true", help="really delete")
    q = logs.add_parser("purge", help="delete log rows older than the retention period")
    q.add_argument("--days", type=int, help="override FAQBOT_RETENTION_DAYS")
    p.set_defaults(func=cmd_log)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    single_threaded_blas()  # every command that matches, and the bot: see its docstring
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
