"""Follow-ups, two-part messages and other scripts end to end: real PTB, fake Bot API, real store."""

from __future__ import annotations

from pathlib import Path

from bot.conversation import ConversationMemory
from tests.telegram_harness import (
    OTHER_PARENT,
    PARENT,
    VOLUNTEER,
    VOLUNTEER_CHAT,
    Running,
    buttons,
    running_bot,
)

FIRST = "how long does the DfE keep my daughter's data?"  # answered with dfe-retention
FOLLOW_UP = "what about the school?"  # after it: school-retention; alone: only suggestions
GROUP = -4242


def answered(reply: dict[str, object]) -> str | None:
    """The entry a reply answers outright (its feedback button names it), or None."""
    up = [d for d in buttons(reply) if d.startswith("fb:up:")]  # type: ignore[arg-type]
    return up[0].removeprefix("fb:up:") if up else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def with_clock(bot: Running) -> Clock:
    """Give the running bot a conversation memory on a clock the test moves."""
    clock = Clock()
    bot.app.bot_data.services.conversations = ConversationMemory(clock=clock)
    return clock


async def test_follow_up_uses_the_last_answer(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert answered(await bot.ask(FIRST)) == "dfe-retention"
        assert answered(await bot.ask(FOLLOW_UP)) == "school-retention"
        # a self-contained question ignores the context
        assert answered(await bot.ask("what is a unique pupil number?")) == "upn"
        assert await bot.store.count_log(None) == 0  # nothing about the conversation is stored


async def test_more_of_the_same_says_it_is_the_same_answer(tmp_path: Path) -> None:
    """ "is there a fee for that?" after a subject access request gets that answer again, and the
    reply says so; a new question's answer carries no such line."""
    async with running_bot(tmp_path) as bot:
        first = await bot.ask("how do i find out what data the school holds on my son")
        assert answered(first) == "subject-access-request"
        assert "answer you just had" not in str(first["text"])
        again = await bot.ask("is there a fee for that?")
        assert answered(again) == "subject-access-request"
        assert str(again["text"]).startswith("<i>That is covered in the answer you just had.")


async def test_two_users_contexts_never_mix(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert answered(await bot.ask(FIRST)) == "dfe-retention"
        other = await bot.ask(FOLLOW_UP, user=OTHER_PARENT)
        assert answered(other) is None
        assert "Did you mean" in str(other["text"])
        assert answered(await bot.ask(FOLLOW_UP)) == "school-retention"


async def test_group_members_each_have_their_own_context(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        group = {"chat_id": GROUP, "chat_type": "group"}
        first = await bot.ask(f"@test_faq_bot {FIRST}", user=PARENT, **group)
        assert answered(first) == "dfe-retention"
        other = await bot.ask(f"@test_faq_bot {FOLLOW_UP}", user=OTHER_PARENT, **group)
        assert answered(other) is None
        mine = await bot.ask(f"@test_faq_bot {FOLLOW_UP}", user=PARENT, **group)
        assert answered(mine) == "school-retention"


async def test_context_expires_after_ten_minutes(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert bot.app.job_queue is not None
        [job] = bot.app.job_queue.get_jobs_by_name("context")  # sweeps expired context every minute
        assert job.trigger.interval.total_seconds() == 60
        clock = with_clock(bot)
        assert answered(await bot.ask(FIRST)) == "dfe-retention"
        clock.now += 9 * 60
        assert answered(await bot.ask(FOLLOW_UP)) == "school-retention"  # now the context
        clock.now += 10 * 60 + 1
        assert answered(await bot.ask(FOLLOW_UP)) is None


async def test_forget_clears_the_context(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert answered(await bot.ask(FIRST)) == "dfe-retention"
        await bot.ask(FIRST, user=OTHER_PARENT)
        assert "deleted everything" in str((await bot.ask("/forget"))["text"])
        assert answered(await bot.ask(FOLLOW_UP)) is None
        assert answered(await bot.ask(FOLLOW_UP, user=OTHER_PARENT)) == "school-retention"  # theirs stays


async def test_a_pressed_answer_button_becomes_the_context(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("what is the school census")
        assert "a:dfe-retention" not in buttons(reply)
        await bot.press(PARENT, bot.api.bot_messages(PARENT)[-1], "a:dfe-retention")
        await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        assert answered(await bot.ask(FOLLOW_UP)) == "school-retention"


async def test_two_questions_answer_one_and_offer_the_other(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("How long does the DfE keep my son's data? And can I get it deleted?")
        data = buttons(reply)
        assert answered(reply) == "dfe-retention"
        after = data.index("fb:dn:dfe-retention") + 1
        assert data[after] == "a:data-deletion"  # first after 👍 / 👎
        labels = [b["text"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
        assert labels[after] == "Also: Can I get my child's data deleted?"
        assert data.count("a:data-deletion") == 1
        await bot.press(PARENT, bot.api.bot_messages(PARENT)[-1], "a:data-deletion")
        sent = await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        assert "Can I get my child's data deleted?" in sent[-1].params["text"]
        # one question: no "Also" button
        assert not any(
            b["text"].startswith("Also:")
            for row in (await bot.ask("what is a upn"))["reply_markup"]["inline_keyboard"]
            for b in row
        )


async def test_other_script_gets_an_honest_reply_and_reaches_volunteers(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        question = "আমার ছেলের তথ্য কতদিন রাখা হয়? আমার নম্বর ০৭৭০০ ৯০০১২৩"  # Bengali, a phone number
        reply = await bot.ask(question)
        assert "only understand English" in reply["text"]
        assert "volunteers" in reply["text"]
        assert "type your question in words" not in reply["text"]
        [item] = await bot.store.list_log("open")
        assert item.reason == "unanswered"
        assert item.text.startswith("আমার ছেলের তথ্য কতদিন রাখা হয়?")
        assert "[phone]" in item.text
        assert "৯০০১২৩" not in item.text
        assert "900123" not in item.text
        notice = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        assert "আমার ছেলের" in notice[0].params["text"]
        await bot.ask("/queue", user=VOLUNTEER)
        cards = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=2)
        assert "আমার ছেলের" in cards[-1].params["text"]
        assert f"q:r:{item.id}" in buttons(cards[-1].params)
        for text in (
            "هل يمكنني حذف بيانات ابني؟",
            "我的孩子的数据会保存多久？",
            "میرے بچے کا ڈیٹا کب تک رکھا جاتا ہے؟",
        ):
            assert "only understand English" in (await bot.ask(text, user=OTHER_PARENT))["text"]
        assert await bot.store.count_log("open") == 4
        # a message of symbols only is still asked to be typed in words, and not logged
        assert "in words" in (await bot.ask("👍👍", user=OTHER_PARENT))["text"]
        assert await bot.store.count_log("open") == 4
