"""PerChatOrder: updates of one chat run in arrival order; other chats are not held up."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Chat, Message, Update

from bot.telegram.ordering import PerChatOrder


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, "private")
    return Update(update_id, message=Message(update_id, None, chat, text="x"))  # type: ignore[arg-type]


async def test_same_chat_in_order_other_chats_concurrent() -> None:
    processor = PerChatOrder(16)
    done: list[str] = []

    async def work(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        done.append(name)

    await asyncio.gather(
        processor.process_update(update(1, 10), work("chat10-slow-first", 0.05)),
        processor.process_update(update(2, 10), work("chat10-fast-second", 0.0)),
        processor.process_update(update(3, 20), work("chat20-fast", 0.0)),
    )
    assert done.index("chat10-slow-first") < done.index("chat10-fast-second")
    assert done[0] == "chat20-fast"  # not held up by chat 10
    assert processor._locks == {}  # locks are forgotten once a chat is idle


async def test_a_failing_update_does_not_block_its_chat() -> None:
    processor = PerChatOrder(4)

    async def boom() -> None:
        raise RuntimeError("handler failed")

    async def fine() -> str:
        return "ok"

    with pytest.raises(RuntimeError):
        await processor.process_update(update(1, 10), boom())
    await asyncio.wait_for(processor.process_update(update(2, 10), fine()), 1.0)


async def test_one_flooding_chat_cannot_take_every_slot() -> None:
    """Chat 10 floods while its first update is stuck; chat 20 must still get a slot and finish."""
    processor = PerChatOrder(2)
    release = asyncio.Event()
    done: list[str] = []

    async def stuck(name: str) -> None:
        await release.wait()
        done.append(name)

    async def quick() -> None:
        done.append("chat20")

    flood = [
        asyncio.create_task(processor.process_update(update(i, 10), stuck(f"c10-{i}"))) for i in range(6)
    ]
    await asyncio.sleep(0.01)  # the flood is queued
    await asyncio.wait_for(processor.process_update(update(99, 20), quick()), 1.0)
    assert done == ["chat20"]
    assert processor.current_concurrent_updates <= 1  # the flood holds one slot, not all of them
    release.set()
    await asyncio.gather(*flood)
    assert done[1:] == [f"c10-{i}" for i in range(6)]  # and still in order
