"""The ``faqbot`` command: check the FAQ, ask it, match in bulk, chat offline, run the bot."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from bot.knowledge import KnowledgeError, load_knowledge
from bot.live import Snapshot, build
from bot.matcher import MatchSettings, Outcome
from bot.replies import Reply, render_entry, render_match, render_section, render_sections, to_plain


def _knowledge_dir(arg: str | None) -> str | None:
    return arg or os.environ.get("FAQBOT_KNOWLEDGE") or None


def _load(arg: str | None, settings: MatchSettings | None = None) -> Snapshot:
    """Load the FAQ or exit 1 with every error, one ``file:line: reason`` per line."""
    try:
        return build(_knowledge_dir(arg), settings)
    except KnowledgeError as exc:
        print("The knowledge base is invalid:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        raise SystemExit(1) from None


def _match_settings() -> MatchSettings:
    from bot.config import ConfigError, load_settings

    try:
        return load_settings().match
    except ConfigError:
        return MatchSettings()  # only the thresholds matter here; `run` reports config problems


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    directory = _knowledge_dir(args.directory)
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
    for section in kb.sections:
        print(f"  - {section.title}: {len(section.entry_ids)} entries")
    return 0


def _print_reply(reply: Reply, numbered: bool = False) -> list[tuple[str, str]]:
    """Print a reply as terminal text; return the buttons as (action, arg) in the numbered order."""
    print(to_plain(reply.html))
    options: list[tuple[str, str]] = []
    for row in reply.buttons:
        for button in row:
            if numbered:
                options.append((button.action, button.arg))
                print(f"  [{len(options)}] {button.label}")
            else:
                print(f"  • {button.label}")
    return options


def cmd_ask(args: argparse.Namespace) -> int:
    snap = _load(args.knowledge, _match_settings())
    question = " ".join(args.question)
    match = snap.match(question)
    _print_reply(render_match(match, snap.kb, logged=False))
    if args.verbose:
        print(f"\n[{match.outcome.value} score={match.score:.3f} best={match.best_id}]")
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


def cmd_match(args: argparse.Namespace) -> int:
    if not args.json:
        print("faqbot match: only --json output is supported (see faqbot match --help)", file=sys.stderr)
        return 2
    snap = _load(args.knowledge, _match_settings())
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", newline=None, closefd=False)  # noqa: SIM115
    out = sys.stdout
    for line in stdin:
        out.write(json.dumps(match_json(snap, line.rstrip("\r\n")), ensure_ascii=False) + "\n")
    out.flush()
    return 0


CHAT_HELP = (
    "Type a question, a number to press a button, /topics to browse, /help for this text, "
    "or /quit to leave. Nothing you type here is stored."
)


def cmd_chat(args: argparse.Namespace) -> int:
    snap = _load(args.knowledge, _match_settings())
    kb = snap.kb
    print(f"faqbot chat: {len(kb)} answers loaded. {CHAT_HELP}\n")
    options: list[tuple[str, str]] = []
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
        if text in ("/topics", "/start"):
            reply = render_sections(kb)
        elif text.isdigit() and 1 <= int(text) <= len(options):
            action, arg = options[int(text) - 1]
            reply = _press(snap, action, arg)
        else:
            reply = render_match(snap.match(text), kb, logged=False)
        print()
        options = _print_reply(reply, numbered=True) if reply else []
        print()


def _press(snap: Snapshot, action: str, arg: str) -> Reply | None:
    kb = snap.kb
    if action == "a" and (entry := kb.get(arg)):
        return render_entry(entry, kb)
    if action == "sec" and arg.isdigit():
        return render_section(kb, int(arg))
    if action == "topics":
        return render_sections(kb)
    if action == "fb":
        print("Thank you for the feedback.")
        return None
    if action in ("none", "vol"):
        print("In the Telegram bot this passes your question to a volunteer; chat mode stores nothing.")
        return None
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from bot.telegram.app import run

    return run(args)


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
