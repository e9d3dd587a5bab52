"""Process updates concurrently across chats but in order within each chat.

With plain concurrent updates a quick reply (a suggestion) can overtake a slower one (a logged
question waiting on SQLite) in the same chat, and a parent sees answers out of order.

The per-chat lock is taken *before* a global concurrency slot: otherwise one flooding chat's queued
updates would each hold a slot while waiting for their chat's lock, and could take every slot.
A chat therefore holds at most one slot at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatOrder(BaseUpdateProcessor):
    """One FIFO lock per chat; updates of different chats run concurrently."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    # PTB marks process_update @final (it takes the global slot, then calls do_process_update). We
    # override it on purpose: the chat's lock must come before the slot (see the module docstring),
    # and do_process_update runs inside the slot. tests/test_ordering.py holds both properties.
    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        """Wait for this chat's turn first, then for a global slot (PTB's semaphore), then run."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await super().process_update(update, coroutine)
            return
        key = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await super().process_update(update, coroutine)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else queued for this chat: forget its lock
                del self._waiting[key]
                del self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update (ordering and the slot were handled in ``process_update``)."""
        await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
