"""Webhook mode end to end: `faqbot run` as a process, the fake Bot API, updates POSTed locally."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.fake_bot_api import FakeBotAPI
from tests.telegram_harness import faqbot_env, start_faqbot, stop_faqbot

JSON = {"Content-Type": "application/json"}


def _listening(port: int) -> list[str]:
    """The IPv4 addresses a socket listens on at ``port``, from /proc/net/tcp (state 0A = LISTEN)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_answers_and_checks_the_secret(tmp_path: Path) -> None:
    port = free_port()
    async with FakeBotAPI() as api:
        env = faqbot_env(
            api,
            tmp_path / "bot.sqlite3",
            FAQBOT_WEBHOOK_URL="https://bot.example.org/telegram",
            FAQBOT_WEBHOOK_PORT=str(port),
            FAQBOT_WEBHOOK_SECRET="s3cret-token-0123456789",
        )
        proc = await start_faqbot(env, tmp_path)
        try:
            hook = (await api.wait_for("setWebhook", timeout=20))[0].params
            assert hook["url"] == "https://bot.example.org/telegram"
            assert hook["secret_token"] == "s3cret-token-0123456789"
            # Only the update types the bot handles (not Update.ALL_TYPES: no channel posts, polls...).
            assert hook["allowed_updates"] == ["message", "edited_message", "callback_query"]
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "text": "what is a upn",
                    "chat": {"id": 4242, "type": "private"},
                    "from": {"id": 4242, "is_bot": False, "first_name": "Parent"},
                },
            }
            api.start_chat(4242)  # the parent writes by webhook, which the fake does not see
            url = f"http://127.0.0.1:{port}/telegram"
            async with aiohttp.ClientSession() as http:
                # The server starts listening just after setWebhook: on a busy machine that has
                # taken more than 5 s, so wait as long as for setWebhook itself.
                for _ in range(200):
                    try:
                        async with http.post(
                            url,
                            data=json.dumps(update),
                            headers={
                                "Content-Type": "application/json",
                                "X-Telegram-Bot-Api-Secret-Token": "wrong",
                            },
                        ) as bad:
                            assert bad.status == 403
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
                else:
                    pytest.fail("the webhook server never started listening")
                async with http.post(url, data=json.dumps(update), headers=JSON) as bare:
                    assert bare.status == 403  # no secret header at all: refused too
                assert _listening(port) == ["127.0.0.1"]  # by default, not on every interface
                async with http.post(
                    url,
                    data=json.dumps(update),
                    headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": "s3cret-token-0123456789",
                    },
                ) as ok:
                    assert ok.status == 200
            reply = (await api.wait_for("sendMessage", chat_id=4242, timeout=10))[0].params
            assert "Sources" in reply["text"]
            assert len(api.sent("sendMessage", chat_id=4242)) == 1  # the forged update got nothing
        finally:
            await stop_faqbot(proc)
        assert proc.returncode == 0
        assert not (tmp_path / "bot.pid").exists()  # cleaned up on a clean stop


async def test_webhook_mode_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    """Without FAQBOT_WEBHOOK_SECRET anyone reaching the port could forge updates as an admin: no start."""
    port = free_port()
    async with FakeBotAPI() as api:
        env = faqbot_env(
            api,
            tmp_path / "bot.sqlite3",
            FAQBOT_WEBHOOK_URL="https://bot.example.org/telegram",
            FAQBOT_WEBHOOK_PORT=str(port),
        )
        proc = await start_faqbot(env, tmp_path)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        finally:
            await stop_faqbot(proc)
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
        assert proc.returncode == 2, err
        assert "FAQBOT_WEBHOOK_SECRET is required" in err
        assert "Traceback" not in err
        assert not api.calls  # never called setWebhook, never listened
        assert _listening(port) == []
