"""The desk and the privacy claims under attack: a second adversarial review (each test failed first).

The real bot runs against the fake Bot API with the desk on a free local port; aiohttp plays the
browser (or the attacker's page).
"""

from __future__ import annotations

from pathlib import Path

from tests.telegram_harness import PARENT, VOLUNTEER
from tests.test_desk import client, csrf_of, desk_bot, desk_of, link_for, sign_in


async def test_unicode_digits_in_urls_and_forms_get_a_page_not_a_500(tmp_path: Path) -> None:
    """'²' passes str.isdigit() but int() rejects it: it used to crash the handler (500, a traceback)."""
    async with desk_bot(tmp_path) as bot:
        await bot.ask("recipe for banana bread", user=PARENT)
        async with client() as http:
            html = await sign_in(http, await link_for(bot, VOLUNTEER))
            base = desk_of(bot).base_url
            for query in ("/queue?page=%C2%B2", "/themes/draft?ids=%C2%B2,%E2%91%A0"):
                async with http.get(base + query) as resp:
                    assert resp.status == 200, query
            for form in (
                {"action": "dismiss", "id": "²"},
                {"action": "reply", "id": "①", "text": "x"},
                {"action": "dismiss", "back": "page=²"},
            ):
                async with http.post(base + "/queue/act", data={"csrf": csrf_of(html), **form}) as resp:
                    assert resp.status == 200, form
        assert await bot.store.count_log("open") == 1
