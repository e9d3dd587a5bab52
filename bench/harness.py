"""The real bot (``faqbot run`` subprocess) against the in-process fake Bot API, and a reply tracker.

Times are ``time.monotonic()`` in this process: injection time when an update is queued, reply time
when the fake server received the bot's request (``Call.time``), so the latency includes getUpdates
long-polling, PTB's dispatch, matching, the store and the HTTP round trip of the reply.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    EMBEDDING_CACHE,
    bot_env,
    gibberish,
    log_problems,
    log_tail,
    proc_cpu_seconds,
    regression_questions,
    start_bot,
    stop_bot,
)
from bot.live import build
from bot.matcher import Outcome
from bot.semantic import EmbeddingCache
from tests.fake_bot_api import Call, FakeBotAPI

# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Pools:
    """Messages by what the shipped FAQ does with them (checked with the real matcher)."""

    answered: list[str]
    unsure: list[str]
    unknown: list[str]


def question_pools(seed: int = 3) -> Pools:
    """Regression questions split by outcome, "data"-like vague ones, and gibberish like "zyxt plimf 17"."""
    snap = build(None, cache=EmbeddingCache(EMBEDDING_CACHE))
    answered, unsure, unknown = [], ["data", "my child's data", "information"], []
    for q in regression_questions():
        outcome = snap.match(q).outcome
        if outcome is Outcome.ANSWER:
            answered.append(q)
        elif outcome is Outcome.SUGGEST:
            unsure.append(q)
        elif outcome is Outcome.UNKNOWN:
            unknown.append(q)
    rng = random.Random(seed)
    while len(unknown) < 60:
        text = gibberish(rng)
        if snap.match(text).outcome is Outcome.UNKNOWN:
            unknown.append(text)
    unsure = [q for q in unsure if snap.match(q).outcome is Outcome.SUGGEST]
    return Pools(answered, unsure, unknown)


# Share of each kind of update in the mixed workload.
MIX = (
    ("answered", 0.50),
    ("unsure", 0.15),
    ("unknown", 0.15),
    ("press-answer", 0.10),
    ("press-topics", 0.10),
)
QUESTION_MIX = (("answered", 0.65), ("unsure", 0.175), ("unknown", 0.175))


def plan(
    count: int, users: Sequence[int], mix: Sequence[tuple[str, float]], seed: int = 5
) -> list[tuple[str, int]]:
    """``count`` (kind, user) pairs drawn from ``mix``, every user getting a fair share."""
    rng = random.Random(seed)
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    out = [(rng.choices(kinds, weights)[0], users[i % len(users)]) for i in range(count)]
    rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- tracking


@dataclass
class Injected:
    """One update we queued, and the reply we expect for it."""

    kind: str
    chat: int
    key: tuple[Any, ...]  # ("m", chat, message_id) for messages, ("c", query_id) for button presses
    update_id: int
    t: float


@dataclass
class Tracker:
    """Follows the fake server's calls incrementally (never rescans) and indexes the bot's replies."""

    api: FakeBotAPI
    pos: int = 0
    waiting: list[int] = field(default_factory=list)
    replies: dict[tuple[Any, ...], list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    plain: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    edits: int = 0
    keyed: int = 0  # distinct updates that got a reply
    last_time: float = 0.0  # the latest reply of any kind (sendMessage, answerCallbackQuery, edit)
    errors: Counter[str] = field(default_factory=Counter)
    last_message: dict[int, dict[str, Any]] = field(default_factory=dict)
    methods: Counter[str] = field(default_factory=Counter)

    def poll(self) -> None:
        calls = self.api.calls
        todo = self.waiting + list(range(self.pos, len(calls)))
        self.pos = len(calls)
        self.waiting = []
        for i in todo:
            call = calls[i]
            if call.status == "pending":
                self.waiting.append(i)
            else:
                self._record(i, call)

    def _record(self, index: int, call: Call) -> None:
        self.methods[call.method] += 1
        params = call.params
        if call.method in ("sendMessage", "answerCallbackQuery", "editMessageText"):
            self.last_time = max(self.last_time, call.time)
        if call.method == "editMessageText":
            self.edits += 1  # "message is not modified" (topics pressed on the topics list) counts too
            return
        if not call.ok:
            if call.method != "getUpdates":
                self.errors[f"{call.method} {call.status}"] += 1
            return
        if call.method == "sendMessage":
            chat = int(params["chat_id"])
            rp = params.get("reply_parameters")
            if isinstance(rp, dict) and rp.get("message_id"):
                self._reply(("m", chat, int(rp["message_id"])), call.time, index)
            else:
                self.plain[chat].append((call.time, index))
            if isinstance(call.result, dict):
                self.last_message[chat] = call.result
        elif call.method == "answerCallbackQuery":
            self._reply(("c", str(params["callback_query_id"])), call.time, index)

    def _reply(self, key: tuple[Any, ...], t: float, index: int) -> None:
        got = self.replies[key]
        if not got:
            self.keyed += 1
        got.append((t, index))

    def plain_count(self) -> int:
        return sum(len(v) for v in self.plain.values())

    async def wait(
        self, done: Callable[[], bool], timeout: float, proc: Any = None, what: str = "replies"
    ) -> bool:
        """Poll until ``done()`` or ``timeout`` seconds; raise if the bot process died."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if done():
                return True
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the bot exited (code {proc.returncode}) while waiting for {what}")
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)


def inject(api: FakeBotAPI, tracker: Tracker, kind: str, user: int, text: str) -> Injected:
    """Queue one update of ``kind`` from ``user`` (button presses go on their latest bot message)."""
    t = time.monotonic()
    if kind.startswith("press-"):
        data = "a:upn" if kind == "press-answer" else "topics"
        message = tracker.last_message.get(user)
        update = api.inject_callback(user, data, message=message, chat_id=None if message else user)
        return Injected(kind, user, ("c", update["callback_query"]["id"]), update["update_id"], t)
    update = api.inject_message(user, text)
    message_id = update["message"]["message_id"]
    return Injected(kind, user, ("m", user, message_id), update["update_id"], t)


def check_replies(tracker: Tracker, api: FakeBotAPI, sent: Sequence[Injected]) -> dict[str, Any]:
    """Lost, duplicated and twice-delivered updates; follow-ups of button presses; order per chat."""
    lost = [s for s in sent if not tracker.replies.get(s.key)]
    twice = [s for s in sent if len(tracker.replies.get(s.key, ())) > 1]
    redelivered = [s for s in sent if api.delivery_counts.get(s.update_id, 0) != 1]
    by_chat: dict[int, list[Injected]] = defaultdict(list)
    for s in sent:
        if s.key[0] == "m":
            by_chat[s.chat].append(s)
    out_of_order = 0
    overtaking: Counter[str] = Counter()  # "unsure before answered": a later message's reply came first
    for items in by_chat.values():
        got = [n for n, s in enumerate(items) if tracker.replies.get(s.key)]
        order = sorted(got, key=lambda n: tracker.replies[items[n].key][0][1])
        if order != got:
            out_of_order += 1
            for a, b in itertools.pairwise(order):
                if a > b:
                    overtaking[f"{items[a].kind} before {items[b].kind}"] += 1
    return {
        "updates": len(sent),
        "lost": len(lost),
        "answered_twice": len(twice),
        "delivered_not_once": len(redelivered),
        "chats": len(by_chat),
        "chats_out_of_order": out_of_order,
        "overtaking": dict(overtaking.most_common()),
        "errors": dict(tracker.errors),
    }


def latencies(tracker: Tracker, sent: Sequence[Injected]) -> list[float]:
    """Milliseconds from injection to the first reply, for every update that got one."""
    return [(tracker.replies[s.key][0][0] - s.t) * 1e3 for s in sent if tracker.replies.get(s.key)]


# --------------------------------------------------------------------------- the bot under test


@dataclass
class Harness:
    api: FakeBotAPI
    workdir: Path
    env: dict[str, str]
    prefix: Sequence[str]
    tracker: Tracker
    proc: Any = None
    started: float = 0.0
    exit_code: int | None = None
    grace: float = 10.0  # seconds the bot gets to stop after SIGINT (a profiler needs longer to write)

    def launch(self) -> None:
        """Start ``faqbot run``; ``started`` is the monotonic time just before the process is created."""
        self.started = time.monotonic()
        self.proc = start_bot(self.workdir, self.env, self.prefix)

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    async def stop(self) -> None:
        """Stop the bot gracefully while the fake server keeps serving its shutdown calls."""
        if self.proc is not None and self.exit_code is None:
            self.exit_code = await asyncio.to_thread(stop_bot, self.proc, self.grace)

    def log(self) -> dict[str, Any]:
        count, first = log_problems(self.workdir)
        return {"warnings_and_errors": count, "first": first}

    def tail(self) -> str:
        return log_tail(self.workdir)

    async def wait(self, done: Callable[[], bool], timeout: float, what: str) -> bool:
        """``Tracker.wait`` that shows the end of the bot's log if the bot died."""
        try:
            return await self.tracker.wait(done, timeout, self.proc, what)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- bot log ---\n{self.tail()}") from None


@asynccontextmanager
async def bot_under_test(
    rate_limit: bool, *, prefix: Sequence[str] = (), launch: bool = True, **env: str
) -> AsyncIterator[Harness]:
    """A fake Bot API and (when ``launch``) ``faqbot run`` against it; both stopped on the way out."""
    tmp = tempfile.TemporaryDirectory(prefix="faqbench-")
    api = FakeBotAPI()
    await api.start()
    workdir = Path(tmp.name)
    harness = Harness(
        api,
        workdir,
        bot_env(
            api.token,
            api.base_url,
            workdir / "bot.sqlite3",
            FAQBOT_RATE_LIMIT="true" if rate_limit else "false",
            **env,
        ),
        prefix,
        Tracker(api),
    )
    try:
        if launch:
            harness.launch()
        yield harness
    finally:
        try:
            await harness.stop()
        finally:
            await api.stop()
            tmp.cleanup()


async def warm_up(h: Harness, users: Sequence[int], timeout: float = 60.0) -> float:
    """Every user sends /start (so each chat has a bot message to press buttons on); seconds taken."""
    t0 = time.monotonic()
    before = h.tracker.plain_count()
    for n, user in enumerate(users):
        h.api.inject_message(user, "/start")
        if n % 50 == 49:
            await asyncio.sleep(0)
    ok = await h.wait(lambda: h.tracker.plain_count() >= before + len(users), timeout, "the /start replies")
    if not ok:
        raise RuntimeError(f"warm-up: {h.tracker.plain_count() - before}/{len(users)} welcomes\n{h.tail()}")
    return time.monotonic() - t0
