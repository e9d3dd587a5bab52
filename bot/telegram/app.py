"""Build and run the python-telegram-bot Application around the core, the live FAQ and the store."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias, cast

from telegram import BotCommand, Update
from telegram.error import Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    JobQueue,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import ConfigError, Settings, load_settings
from bot.desk.command import desk_command
from bot.knowledge import KnowledgeError
from bot.live import LiveFAQ
from bot.logmask import SecretFilter
from bot.logmask import install as mask_secrets_in_logs
from bot.privacy import load_or_create_key
from bot.replies import Reply
from bot.store import Store, StoreError
from bot.telegram import parents, volunteers
from bot.telegram.ordering import PerChatOrder
from bot.telegram.send import send_reply
from bot.telegram.services import CONTEXT_TYPES, BotData, Context, Services, services

log = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("start", "What this bot does"),
    BotCommand("topics", "Browse the answers by topic"),
    BotCommand("help", "How to use the bot"),
    BotCommand("privacy", "What the bot stores about you"),
    BotCommand("forget", "Delete everything the bot holds about you"),
    BotCommand("volunteer", "Ask a person: /volunteer your question"),
]
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
NO_TOKEN = """faqbot run needs a Telegram bot token.

  1. In Telegram, open @BotFather, send /newbot and follow the steps.
  2. Put the token it gives you in the environment (or in a .env file here):
       export TELEGRAM_BOT_TOKEN=123456:ABC-your-token
  3. Run faqbot run again.

To try the bot without Telegram, run:  faqbot chat"""


async def on_error(update: object, context: Context) -> None:
    """Log the problem without any message text; tell the user something went wrong where possible."""
    err = context.error
    if isinstance(err, Forbidden):
        # The user blocked the bot or left the chat: nothing is wrong here, and an apology cannot arrive.
        log.info("could not reach a chat (Forbidden: the user blocked the bot or left); moving on")
        return
    if isinstance(err, RetryAfter | TimedOut | NetworkError):
        log.warning("Bot API problem: %s", type(err).__name__)
    else:
        log.error("error while handling an update: %r", type(err).__name__, exc_info=err)
    if isinstance(update, Update) and update.effective_chat:
        try:
            await send_reply(context.bot, update.effective_chat.id, Reply(SORRY))
        except Exception:
            log.warning("could not tell the user about the error")


async def purge_job(context: Context) -> None:
    svc = services(context)
    removed = await svc.store.purge(svc.settings.retention_days)
    if (desk := context.bot_data.desk) is not None:
        desk.deleted_rows()
    log.info("retention purge removed %d rows", removed)


async def context_job(context: Context) -> None:
    """Delete follow-up context older than 10 minutes, and idle users' flood windows (raw ids), even for
    chats that never write again."""
    services(context).conversations.sweep()
    services(context).flood.sweep()


async def _reload_on_hup(svc: Services) -> None:
    """Reload the FAQ in a worker thread, as /reload does: parsing and indexing never block the loop;
    and the staff lists, as /reload does."""
    if staff := svc.reload_staff():
        log.info("SIGHUP: %s", staff)
    try:
        report = await asyncio.to_thread(svc.live.reload)
        log.info("SIGHUP: %s", report.summary().replace("\n", "; "))
    except KnowledgeError as exc:
        log.error("SIGHUP: FAQ not reloaded, the old one stays live: %s", "; ".join(exc.errors))
    except Exception:
        log.exception("SIGHUP: FAQ not reloaded, the old one stays live")


# The update types the handlers below handle (an edited question is answered again); Telegram sends
# no others (channel posts, polls, reactions, member changes...).
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]


App: TypeAlias = Application[ExtBot[Any], Context, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Context]]
Builder: TypeAlias = ApplicationBuilder[
    ExtBot[Any], Context, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Context]
]


def build_application(
    settings: Settings,
    live: LiveFAQ,
    store: Store | None = None,
    *,
    reload_on_sighup: bool = False,
    reread: Callable[[], Settings] | None = None,
) -> App:
    """The Application with every handler. The store is opened in ``post_init`` unless given.

    ``reread`` gives the configuration as it is now: /reload and SIGHUP adopt its staff lists.
    """
    # PTB's builder does not carry the context types into its JobQueue type parameter: say it here.
    builder = cast(Builder, ApplicationBuilder().context_types(CONTEXT_TYPES))
    builder = builder.token(settings.token or "").base_url(settings.api_url)
    builder = builder.concurrent_updates(PerChatOrder(256))
    # A smaller pool than PTB's 256: httpcore's pool bookkeeping grows with the square of its size
    # and was a quarter of the bot's CPU under load (bench/e2e.py); requests wait for a connection.
    builder = builder.connection_pool_size(16).pool_timeout(30.0)
    if settings.rate_limit:
        # One retry layer: the limiter only paces requests; send.py's loop does every retry (429 and
        # network errors alike), so a send is tried at most send.MAX_ATTEMPTS times, not 4 x 4.
        builder = builder.rate_limiter(AIORateLimiter(max_retries=0))
        # With no retries of its own the limiter logs each 429 it passes on as an ERROR with a
        # traceback; send.py logs the same event as a one-line warning.
        logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)

    async def post_init(app: App) -> None:
        nonlocal store
        if store is None:
            key = load_or_create_key(settings.secret, settings.key_path)
            store = await Store.open(settings.db_path, key)
        app.bot_data.services = Services(settings, live, store, reread=reread)
        try:
            await app.bot.set_my_commands(COMMANDS)
        except (NetworkError, RetryAfter) as exc:
            log.warning("could not set the command menu: %s", type(exc).__name__)
        if app.job_queue is not None:
            app.job_queue.run_repeating(purge_job, interval=dt.timedelta(days=1), first=5.0, name="purge")
            app.job_queue.run_repeating(context_job, interval=60.0, first=60.0, name="context")
        if settings.desk_port is not None:
            from bot.desk.server import start_desk  # only imported when the desk is switched on

            app.bot_data.desk = await start_desk(app.bot_data.services, app.bot)
        if reload_on_sighup:
            loop = asyncio.get_running_loop()
            reloads: set[asyncio.Task[None]] = set()

            def on_hup() -> None:
                assert app.bot_data.services is not None  # set above
                task = loop.create_task(_reload_on_hup(app.bot_data.services))
                reloads.add(task)  # hold a reference until it is done
                task.add_done_callback(reloads.discard)

            with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on this platform
                loop.add_signal_handler(signal.SIGHUP, on_hup)

    async def post_shutdown(app: App) -> None:
        if (desk := app.bot_data.desk) is not None:
            app.bot_data.desk = None
            await desk.stop()
        if (svc := app.bot_data.services) is not None:
            svc.close()
            await svc.store.close()

    app = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    private = filters.ChatType.PRIVATE
    app.add_handler(TypeHandler(Update, parents.flood_gate), group=-1)
    app.add_handler(CommandHandler("start", parents.start))
    app.add_handler(CommandHandler("help", parents.help_command))
    app.add_handler(CommandHandler("topics", parents.topics))
    app.add_handler(CommandHandler("privacy", parents.privacy))
    app.add_handler(CommandHandler("forget", parents.forget))
    app.add_handler(CommandHandler("volunteer", parents.volunteer_command))
    app.add_handler(CommandHandler("queue", volunteers.queue))
    app.add_handler(CommandHandler("cancel", volunteers.cancel))
    app.add_handler(CommandHandler("reload", volunteers.reload_command))
    app.add_handler(CommandHandler("stats", volunteers.stats))
    app.add_handler(CommandHandler("desk", desk_command))
    app.add_handler(CallbackQueryHandler(volunteers.queue_button, pattern=r"^q:"))
    app.add_handler(CallbackQueryHandler(parents.button))
    app.add_handler(MessageHandler(filters.COMMAND & private, parents.unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, parents.question))
    app.add_handler(
        MessageHandler(~filters.TEXT & ~filters.COMMAND & ~filters.StatusUpdate.ALL, parents.non_text)
    )
    app.add_error_handler(on_error)
    return app


def _pid_file(settings: Settings) -> Path:
    return settings.db_path.with_suffix(".pid")


def _hold_pid_file(path: Path) -> int:
    """Write our pid to ``path`` and hold an exclusive lock on it for as long as the process lives.

    The lock is what ``faqbot reload`` trusts: the kernel drops it when the process dies, even by
    SIGKILL, so a stale file (whose pid may now be another program) is never mistaken for the bot.
    Raises BlockingIOError if another ``faqbot run`` holds it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
    except BaseException:
        os.close(fd)
        raise
    return fd


def configure_logging(level: str) -> None:
    """Log to stderr at ``level`` (FAQBOT_LOG_LEVEL); httpx's per-request lines only from WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def run(args: argparse.Namespace | None = None) -> int:
    """``faqbot run``: validate everything, then poll (or serve the webhook) until stopped."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    # Opt in to PTB's coming behaviour (RetryAfter.retry_after as a timedelta; send.py handles both).
    # Set here, when the bot starts, not when a module is imported.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    if not settings.token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    mask = mask_secrets_in_logs([settings.token, settings.webhook_secret, settings.secret])
    pid_file = _pid_file(settings)
    try:
        pid_fd = _hold_pid_file(pid_file)
    except BlockingIOError:
        print(
            f"Another faqbot run is already using {settings.db_path} (its pid file {pid_file} is locked). "
            "Stop it first.",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"Cannot write the pid file {pid_file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        return _run_holding_pid_file(settings, mask)
    finally:
        pid_file.unlink(missing_ok=True)
        os.close(pid_fd)


def _run_holding_pid_file(settings: Settings, mask: SecretFilter) -> int:
    try:
        live = LiveFAQ(settings.knowledge_dir, settings.match)
    except KnowledgeError as exc:
        print("The knowledge base is invalid; fix it and start again:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        return 1
    try:
        asyncio.run(_check_store(settings))
    except (StoreError, ValueError, OSError) as exc:  # ValueError/OSError: the pseudonym key
        print(f"Cannot use the database: {exc}", file=sys.stderr)
        return 1
    app = build_application(settings, live, reload_on_sighup=True, reread=load_settings)
    try:
        if settings.webhook_url:
            app.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path="telegram",
                webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        print("Telegram rejected TELEGRAM_BOT_TOKEN. Check it with @BotFather.", file=sys.stderr)
        return 1
    except (NetworkError, TimedOut) as exc:
        print(mask.mask(f"Cannot reach the Telegram Bot API at {settings.api_url}: {exc}"), file=sys.stderr)
        return 1
    return 0


async def _check_store(settings: Settings) -> None:
    """Open and close the database once before starting, so a locked or read-only file fails clearly."""
    key = load_or_create_key(settings.secret, settings.key_path)
    store = await Store.open(settings.db_path, key)
    try:
        await store.check_writable()
    finally:
        await store.close()
