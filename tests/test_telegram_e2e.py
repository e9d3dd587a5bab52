"""The Telegram bot end to end: real PTB HTTP stack, fake Bot API on 127.0.0.1, real SQLite store."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from bot.knowledge import load_knowledge
from tests.conftest import SHIPPED
from tests.telegram_harness import (
    ADMIN,
    OTHER_PARENT,
    PARENT,
    VOLUNTEER,
    VOLUNTEER_CHAT,
    buttons,
    running_bot,
)


async def test_start_sets_commands_and_welcomes(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.api.wait_for("setMyCommands")
        commands = {c["command"] for c in bot.api.sent("setMyCommands")[0]["commands"]}
        assert {"start", "topics", "help", "privacy", "forget", "volunteer"} <= commands
        reply = await bot.ask("/start")
        assert "volunteers" in reply["text"]
        assert "not legal advice" in reply["text"]
        assert buttons(reply) == ["topics"]
        assert "/topics" in (await bot.ask("/help"))["text"]


async def test_question_gets_answer_sources_and_buttons(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("what is a unique pupil number?")
        assert reply["parse_mode"] == "HTML"
        assert "Sources" in reply["text"]
        assert '<a href="https://' in reply["text"]
        data = [d for d in buttons(reply) if not d.startswith("more:")]  # "More detail" may come first
        assert data[:2] == ["fb:up:upn", "fb:dn:upn"]
        assert any(d.startswith("a:") for d in data[2:])
        assert (await bot.store.stats(1)).answered == {"upn": 1}
        assert await bot.store.count_log(None) == 0  # answered questions are not stored


async def test_user_text_is_escaped(tmp_path: Path) -> None:
    """The volunteer card quotes the parent's words: as typed on screen, escaped in the HTML sent."""
    typed = "<script>alert(1)</script> & <b>"
    async with running_bot(tmp_path) as bot:
        await bot.ask(typed)
        [card] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        assert card.params["parse_mode"] == "HTML"
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in card.params["text"]
        assert typed in card.result["text"]  # what the volunteers see, after the fake parsed the HTML


async def test_a_failed_volunteer_notice_is_logged_and_the_parent_still_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(tmp_path) as bot:
        bot.api.fail_next(
            "sendMessage",
            status=403,
            description="Forbidden: bot was kicked from the group chat",
            chat_id=VOLUNTEER_CHAT,
        )
        with caplog.at_level(logging.WARNING):
            reply = await bot.ask("zyxt plimf wobble")
            await bot.settle()
        assert "don't know" in reply["text"]
        assert await bot.store.count_log("open") == 1  # the question is kept for the queue
        notices = [
            r
            for r in caplog.records
            if r.levelno == logging.WARNING and str(VOLUNTEER_CHAT) in r.getMessage()
        ]
        assert notices, [r.getMessage() for r in caplog.records]
        assert "kicked" in str(notices[0].exc_info[1] if notices[0].exc_info else notices[0].getMessage())


async def test_unknown_question_is_logged_and_volunteers_told(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("recipe for banana bread please, reach me on mum@example.com or 07700 900123")
        assert "don't know" in reply["text"]
        assert "volunteers" in reply["text"]
        items = await bot.store.list_log("open")
        assert len(items) == 1
        assert "[email]" in items[0].text
        assert "example.com" not in items[0].text
        assert "[phone]" in items[0].text
        assert "900123" not in items[0].text
        notice = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        assert "[email]" in notice[0].params["text"]
        assert "q:r:" in "".join(buttons(notice[0].params))


async def test_did_you_mean_and_none_of_these(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("data")
        data = buttons(reply)
        assert data[-1] == "none"
        assert all(d.startswith("a:") for d in data[:-1])
        assert len(data) >= 2
        msg = bot.api.bot_messages(PARENT)[-1]
        await bot.press(PARENT, msg, "none")
        items = await bot.store.list_log("open")
        assert [i.reason for i in items] == ["none_of_these"]
        assert items[0].text == "data"
        await bot.press(PARENT, msg, data[0])  # a suggestion opens the answer
        await bot.api.wait_for("sendMessage", chat_id=PARENT, count=3)
        assert "Sources" in bot.texts(PARENT)[-1]


async def test_topics_navigation_and_stale_buttons(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("/topics")
        sections = buttons(reply)
        assert sections
        assert all(d.startswith("sec:") for d in sections)
        msg = bot.api.bot_messages(PARENT)[-1]
        await bot.press(PARENT, msg, sections[0])
        edit = (await bot.api.wait_for("editMessageText"))[0].params
        entries = buttons(edit)
        assert entries[-1] == "topics"
        assert entries[0].startswith("a:")
        await bot.press(PARENT, msg, "a:no-such-entry")
        assert "out of date" in bot.last_answer()
        await bot.press(PARENT, msg, "sec:99")
        assert "out of date" in bot.last_answer()


async def test_feedback(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask("what is the school census")
        msg = bot.api.bot_messages(PARENT)[-1]
        await bot.press(PARENT, msg, "fb:up:school-census")
        await bot.press(PARENT, msg, "fb:dn:school-census")
        stats = await bot.store.stats(1)
        assert stats.feedback_up == {"school-census": 1}
        assert stats.feedback_down == {"school-census": 1}
        items = await bot.store.list_log("open")
        assert items[0].reason == "feedback"
        assert items[0].text == "what is the school census"


async def test_smalltalk_non_text_and_unknown_command(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert "Hello" in (await bot.ask("hi"))["text"]
        bot.api.inject_sticker(PARENT)
        await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        assert "only read text" in bot.texts(PARENT)[-1]
        assert "don't know that command" in (await bot.ask("/frobnicate"))["text"]
        assert await bot.store.count_log(None) == 0


async def test_privacy_and_forget(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        assert "/forget" in (await bot.ask("/privacy"))["text"]
        await bot.ask("zyxt plimf wobble")
        await bot.ask("qorp vendle snib")
        await bot.ask("frumious bandersnatch", user=OTHER_PARENT)
        reply = await bot.ask("/forget")
        assert "2 records removed" in reply["text"]
        assert await bot.store.count_log(None) == 1  # the other parent's question stays


async def test_groups_only_when_addressed(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        group = -777
        bot.api.inject_message(PARENT, "what is the school census", chat_id=group, chat_type="group")
        reply = await bot.ask("@test_faq_bot what is a upn", chat_id=group, chat_type="group")
        assert "Sources" in reply["text"]
        assert len(bot.api.sent("sendMessage", chat_id=group)) == 1  # the unaddressed message was ignored


async def test_group_mentions_are_found_through_entities(tmp_path: Path) -> None:
    """ "İ" lower-cases to two characters, which broke a search of the lower-cased text; entities do not."""
    group = -778
    async with running_bot(tmp_path) as bot:
        reply = await bot.ask("İİ @test_faq_bot what is a upn", chat_id=group, chat_type="group")
        assert "Sources" in reply["text"]
        assert "unique pupil number" in reply["text"].lower()
        # A mention of someone else, and the bot's name typed without a mention entity, do not address it.
        bot.api.inject_message(PARENT, "@someone_else what is a upn", chat_id=group, chat_type="group")
        bot.api.inject_message(
            PARENT, "ask @test_faq_bot what is a upn", chat_id=group, chat_type="group", entities=[]
        )
        await bot.settle()
        assert len(bot.api.sent("sendMessage", chat_id=group)) == 1
        # A text mention (a name linked to the bot's user, no @username in the text) addresses it.
        bot_user = {"id": bot.api.bot_user["id"], "is_bot": True, "first_name": "FAQ"}
        mention = [{"type": "text_mention", "offset": 0, "length": 3, "user": bot_user}]
        reply = await bot.ask("FAQ what is a upn", chat_id=group, chat_type="group", entities=mention)
        assert "Sources" in reply["text"]


async def test_group_reply_to_the_bot_is_recognised_by_id(tmp_path: Path) -> None:
    group = -779
    async with running_bot(tmp_path) as bot:
        await bot.ask("@test_faq_bot what is a upn", chat_id=group, chat_type="group")
        answer = bot.api.bot_messages(group)[-1]
        reply = await bot.ask("what is the school census", chat_id=group, chat_type="group", reply_to=answer)
        assert "Sources" in reply["text"]
        # Another bot with the same username (as a forged or renamed account would be) is not this bot.
        impostor = {**answer, "from": {**answer["from"], "id": answer["from"]["id"] + 1}}
        bot.api.inject_message(PARENT, "what is a upn", chat_id=group, chat_type="group", reply_to=impostor)
        await bot.settle()
        assert len(bot.api.sent("sendMessage", chat_id=group)) == 2


async def test_edited_message_is_answered_again(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask("what is a upn")
        reply = await bot.ask("what is the national pupil database", edited=True)
        assert "Sources" in reply["text"]


async def test_volunteer_queue_reply_flow(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask("zyxt plimf wobble")
        item = (await bot.store.list_log("open"))[0]
        await bot.ask("/queue", user=VOLUNTEER)
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=2)
        card = bot.api.bot_messages(VOLUNTEER)[-1]
        assert f"q:r:{item.id}" in buttons({"reply_markup": card["reply_markup"]})
        await bot.press(VOLUNTEER, card, f"q:r:{item.id}")
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER, count=3)
        await bot.ask("Schools may not sell photos; ask the school for its policy.", user=VOLUNTEER)
        delivered = await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        assert "A volunteer replied" in delivered[-1].params["text"]
        assert "ask the school for its policy" in delivered[-1].params["text"]
        assert (await bot.store.get_log(item.id)).status == "answered"
        assert await bot.store.delivery_chat(item.id) is None  # raw chat id dropped once delivered


async def test_reply_by_a_volunteer_who_never_started_the_bot_says_what_to_do(tmp_path: Path) -> None:
    """Telegram refuses a bot's first message to a user (403); the volunteer is told where they pressed."""
    async with running_bot(tmp_path) as bot:
        await bot.ask("zyxt plimf wobble")
        [item] = await bot.store.list_log("open")
        [card] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        await bot.press(VOLUNTEER, card.result, f"q:r:{item.id}")
        assert "press Start" in bot.last_answer()
        assert list(bot.api.callback_answers.values())[-1].get("show_alert") is True
        await bot.settle()
        assert not bot.api.sent("sendMessage", chat_id=VOLUNTEER_CHAT)[1:]  # no apology in the group
        assert await bot.store.pending_reply(VOLUNTEER) is None  # nothing left half-started
        bot.api.start_chat(VOLUNTEER)  # the volunteer presses Start, then Reply again
        await bot.press(VOLUNTEER, card.result, f"q:r:{item.id}")
        [prompt] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER)
        assert "Send your reply" in prompt.params["text"]
        assert await bot.store.pending_reply(VOLUNTEER) == item.id


async def test_volunteer_attach_and_dismiss(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask("qorp vendle snib")
        await bot.ask("/volunteer is my kid's reading age sent to the DfE?", user=OTHER_PARENT)
        first, second = await bot.store.list_log("open")
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT, count=2)
        card = bot.api.bot_messages(VOLUNTEER_CHAT)[-1]
        await bot.press(VOLUNTEER, card, f"q:a:{second.id}")
        await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT, count=3)
        await bot.press(VOLUNTEER, card, f"q:e:{second.id}:census-data-items")
        got = await bot.api.wait_for("sendMessage", chat_id=OTHER_PARENT, count=3)
        assert "A volunteer found an answer" in got[-2].params["text"]
        assert "Sources" in got[-1].params["text"]
        assert (await bot.store.suggestions()) == {"census-data-items": [second.text]}
        await bot.press(VOLUNTEER, card, f"q:d:{first.id}")
        assert (await bot.store.get_log(first.id)).status == "dismissed"
        await bot.press(VOLUNTEER, card, f"q:d:{first.id}")  # pressing again is harmless
        assert "no longer open" in bot.last_answer()


def _filler_section(count: int) -> str:
    """A knowledge file of ``count`` valid entries, to grow the FAQ past Telegram's 100-button keyboard."""
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    lines = ["section: Filler", "entries:"]
    for i in range(count):
        name = f"{words[i % 12]} {words[i // 12 % 12]} {words[i // 144 % 12]}"
        lines += [
            f"  - id: filler-{i}",
            f"    question: What is the {name} form number {i}?",
            f"    alternatives: [{name} one, {name} two, {name} three, {name} four]",
            f"    answer: The {name} form is a test entry.",
            "    sources:",
            "      - title: GOV.UK",
            "        url: https://www.gov.uk/",
        ]
    return "\n".join(lines) + "\n"


async def test_attach_picker_pages_through_a_faq_larger_than_a_keyboard(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge)
    (knowledge / "filler.yaml").write_text(_filler_section(90))
    every_id = set(load_knowledge(knowledge).entries)
    assert len(every_id) > 100  # more than one keyboard can hold
    async with running_bot(tmp_path, knowledge=knowledge) as bot:
        await bot.ask("zyxt plimf wobble")
        [item] = await bot.store.list_log("open")
        [card] = await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT)
        await bot.press(VOLUNTEER, card.result, f"q:a:{item.id}")
        [picker] = (await bot.api.wait_for("sendMessage", chat_id=VOLUNTEER_CHAT, count=2))[1:]
        seen: list[str] = []
        page = picker.params
        while len(seen) <= len(every_id):
            data = buttons(page)
            assert len(data) <= 12
            assert "page" in page["text"]
            seen += [d.split(":")[3] for d in data if d.startswith(f"q:e:{item.id}:")]
            rows = page["reply_markup"]["inline_keyboard"]
            forward = [b["callback_data"] for row in rows for b in row if "Next" in b["text"]]
            if not forward:
                break
            edits = len(bot.api.sent("editMessageText"))
            await bot.press(VOLUNTEER, picker.result, forward[0])
            page = (await bot.api.wait_for("editMessageText", count=edits + 1))[-1].params
        assert sorted(seen) == sorted(every_id)  # every answer on exactly one page
        assert "Prev" in str(page["reply_markup"])  # the last page leads back
        await bot.press(VOLUNTEER, picker.result, f"q:a:{item.id}:999")
        assert "not valid" in bot.last_answer()
        await bot.press(VOLUNTEER, picker.result, f"q:e:{item.id}:filler-89")
        assert (await bot.store.get_log(item.id)).status == "attached"


async def test_outsiders_get_nothing_from_staff_commands(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask("zyxt plimf wobble")
        item = (await bot.store.list_log("open"))[0]
        for command in ("/queue", "/reload", "/stats"):
            assert "don't know that command" in (await bot.ask(command, user=OTHER_PARENT))["text"]
        assert "don't know that command" in (await bot.ask("/reload", user=VOLUNTEER))["text"]
        msg = bot.api.bot_messages(OTHER_PARENT)[-1]
        for data in (f"q:d:{item.id}", f"q:r:{item.id}", "q:d:999999", "q:" + "9" * 60):
            await bot.press(OTHER_PARENT, msg, data)
        assert (await bot.store.get_log(item.id)).status == "open"
        assert await bot.store.pending_reply(OTHER_PARENT) is None


async def test_reload_valid_and_broken(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge)
    async with running_bot(tmp_path, knowledge=knowledge) as bot:
        census = knowledge / "census.yaml"
        old_question = "question: What is the early years census?"
        assert census.read_text().count(old_question) == 1
        census.write_text(census.read_text().replace(old_question, old_question + " (EYC-REV)"))
        bot_yaml = knowledge / "bot.yaml"
        bot_yaml.write_text(
            bot_yaml.read_text().replace("How can I talk to a real person?", "How do I reach a person?")
        )
        reply = await bot.ask("/reload", user=ADMIN)
        assert f"Reloaded {len(load_knowledge(knowledge).entries)} entries" in reply["text"]
        assert "Changed: early-years-census, talk-to-volunteer" in reply["text"]
        assert "(EYC-REV)" in (await bot.ask("what is the early years census"))["text"]
        (knowledge / "broken.yaml").write_text("section: Broken\nentries:\n  - id: Bad Id\n")
        reply = await bot.ask("/reload", user=ADMIN)
        assert "NOT reloaded" in reply["text"]
        assert "broken.yaml:3" in reply["text"]
        assert "Sources" in (await bot.ask("what is a upn"))["text"]  # the old FAQ still answers


async def test_stats_for_admin(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        await bot.ask("what is a upn")
        await bot.ask("how do i bake bread")
        reply = await bot.ask("/stats", user=ADMIN)
        assert "Last 7 days" in reply["text"]
        assert "upn: 1 answered" in reply["text"]
        assert "Unanswered: 1" in reply["text"]


async def test_flooding_is_throttled_politely(tmp_path: Path) -> None:
    async with running_bot(tmp_path, flood_per_minute=5) as bot:
        for i in range(12):
            bot.api.inject_message(PARENT, f"zyxt plimf wobble {i}")
        bot.api.inject_message(OTHER_PARENT, "what is a upn")
        await bot.api.wait_for("sendMessage", chat_id=OTHER_PARENT)
        await bot.settle()
        texts = bot.texts(PARENT)
        assert sum("very quickly" in t for t in texts) == 1
        assert len(texts) == 6
        assert await bot.store.count_log(None) == 5  # the log cannot be filled


async def test_survives_429_and_500_from_the_bot_api(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        bot.api.fail_next("sendMessage", status=429, retry_after=1)
        reply = await bot.ask("what is a upn")
        assert "Sources" in reply["text"]
        bot.api.fail_next("sendMessage", status=500, times=1)
        reply = await bot.ask("what is the school census")
        assert "Sources" in reply["text"]
        failed = [c for c in bot.api.calls if c.method == "sendMessage" and not c.ok]
        assert [c.status for c in failed] == [429, 500]


async def test_more_detail_button_opens_the_detail(tmp_path: Path) -> None:
    from tests.conftest import VALID_ENTRY, write_knowledge

    text = VALID_ENTRY.replace(
        "    answer: The first answer.\n",
        "    answer: The first answer.\n    detail: |\n      The longer story, see [GOV.UK](https://www.gov.uk/).\n",
    )
    knowledge = write_knowledge(tmp_path, {"section.yaml": text})
    async with running_bot(tmp_path, knowledge=knowledge) as bot:
        reply = await bot.ask("What is the first entry?")
        assert "The first answer." in reply["text"]
        assert "longer story" not in reply["text"]
        data = buttons(reply)
        assert data[:3] == ["more:first-entry", "fb:up:first-entry", "fb:dn:first-entry"]
        msg = bot.api.bot_messages(PARENT)[-1]
        await bot.press(PARENT, msg, "more:first-entry")
        await bot.api.wait_for("sendMessage", chat_id=PARENT, count=2)
        detail = bot.texts(PARENT)[-1]
        assert "more detail" in detail
        assert '<a href="https://www.gov.uk/">GOV.UK</a>' in detail
        assert "The first answer." not in detail
        await bot.press(PARENT, msg, "more:second-entry")  # no detail: a stale button, not a crash
        assert "out of date" in bot.last_answer()
        await bot.press(PARENT, msg, "more:no-such-entry")
        assert "out of date" in bot.last_answer()
        assert len(bot.texts(PARENT)) == 2
