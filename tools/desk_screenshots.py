"""Screenshots of every desk page at phone and laptop widths, on a made-up log (bench/desk.py's seed).

``python tools/desk_screenshots.py OUTDIR [--logged N]``: needs Chromium (``apt-get install chromium``)
and the ``[test]`` extra (Playwright). Signs in as an admin through a real magic link.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.desk import ADMIN, seed
from bot.config import Settings
from bot.desk.server import Desk
from bot.live import LiveFAQ
from bot.store import Store
from bot.telegram.services import Services
from tests.test_desk_browser import ARGS, CHROMIUM

PAGES = {
    "queue": "/queue?order=newest",
    "themes": "/themes?days=30",
    "overview": "/overview?days=30",
    "entries": "/entries?days=30",
    "signin": "/login/expired-link",
}
WIDTHS = {"phone": (390, 844), "laptop": (1280, 860)}


async def main(out: Path, logged: int) -> None:
    from playwright.async_api import async_playwright

    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a one-off tool, before anything runs)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_path=Path(tmp) / "desk.sqlite3", admins=frozenset({ADMIN}), desk_port=0)
        store = await Store.open(settings.db_path, b"k" * 32)
        await seed(store, logged)
        desk = Desk(Services(settings, LiveFAQ(settings.knowledge_dir), store), bot=None)  # type: ignore[arg-type]
        await desk.start()
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for name, (width, height) in WIDTHS.items():
                    page = await browser.new_page(viewport={"width": width, "height": height})
                    await page.goto(desk.sign_in_link(ADMIN))
                    await page.get_by_role("button", name="Sign in").click()
                    await page.wait_for_url("**/queue")
                    for page_name, path in PAGES.items():
                        await page.goto(desk.base_url + path)
                        if page_name.startswith("themes"):  # "Grouping…" reloads itself into the groups
                            await page.wait_for_selector("article.card.theme", timeout=120_000)
                        target = out / f"desk-{page_name}-{name}.png"
                        if name == "phone":  # the top of a long page, as a phone shows it when scrolled
                            clip = {"x": 0, "y": 0, "width": width, "height": 1500}
                            await page.screenshot(path=str(target), full_page=True, clip=clip)
                        else:
                            await page.screenshot(path=str(target))
                        print(target)
                    await page.close()
                await browser.close()
        finally:
            await desk.stop()
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--logged", type=int, default=800)
    args = parser.parse_args()
    asyncio.run(main(args.out, args.logged))
