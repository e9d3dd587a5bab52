"""The desk's HTTP side: tornado handlers in the bot's event loop, and :class:`Desk` to start and stop them.

Tornado because python-telegram-bot already depends on it (for webhooks): no new dependency, and
importing it adds nothing measurable to the bot's memory (aiohttp's server would add 12 MB). Its
templates escape every ``{{ }}`` by default.

Every request: the session cookie is looked up, and its user checked against the *current*
``FAQBOT_VOLUNTEERS`` / ``FAQBOT_ADMINS`` (``Services.settings``); every POST must carry the
session's CSRF token; every response carries a strict Content-Security-Policy (no scripts at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import Bot

from bot.desk import views
from bot.desk.auth import SESSION_SECONDS, Auth, Session
from bot.knowledge import KnowledgeError
from bot.replies import is_number
from bot.telegram.handover import Handover, dismiss, send_attached_entry, send_volunteer_reply
from bot.telegram.services import Services

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
COOKIE = "faqbot_desk"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
NOTES = {
    "sent": "Sent to the parent. #{id} is marked answered.",
    "attached": "The parent has the answer. #{id} is kept as a new phrasing of that entry.",
    "unreachable": "#{id} is closed, but the parent can no longer be reached.",
    "gone": "#{id} was already handled by someone else (or deleted). Nothing was sent.",
    "failed": "Telegram did not take the message. #{id} is still open: please try again.",
    "dismissed": "Dismissed {n} question(s).",
    "empty": "Type a reply first.",
    "noentry": "Pick an FAQ entry from the list (type to search).",
    "themed": "{n} question(s) kept as phrasings of {entry}.",
}


# How often the desk looks for new questions, to match them before a volunteer opens the queue.
WARM_EVERY_S = 5.0


class Desk:
    """The running desk: its sign-in state, the services it shares with the bot, and its HTTP server."""

    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self.auth = Auth()
        self.matches = views.MatchCache()
        settings = services.settings
        self.port = settings.desk_port or 0
        self.prefix = urlsplit(settings.desk_url).path.rstrip("/") if settings.desk_url else ""
        self.secure = bool(settings.desk_url and settings.desk_url.startswith("https://"))
        self._server: tornado.httpserver.HTTPServer | None = None
        self._warmer: asyncio.Task[None] | None = None
        self.warmed = asyncio.Event()  # set once new questions were matched ahead of the volunteers

    @property
    def base_url(self) -> str:
        """The public URL links point at (``FAQBOT_DESK_URL``, or the listening address)."""
        url = self.services.settings.desk_url
        return url or f"http://{self.services.settings.desk_listen}:{self.port}"

    def sign_in_link(self, user_id: int) -> str:
        return f"{self.base_url}/login/{self.auth.issue_link(user_id)}"

    def forget(self, user_id: int) -> None:
        """After /forget: end the user's sign-ins; drop cached question texts (some were theirs)."""
        self.auth.forget_user(user_id)
        self.matches.clear()

    def deleted_rows(self) -> None:
        """After the retention purge: drop cached question texts (some were purged)."""
        self.matches.clear()

    def role(self, user_id: int) -> str | None:
        settings = self.services.settings  # read now: a removed volunteer loses access at once
        if settings.is_admin(user_id):
            return "admin"
        if settings.is_volunteer(user_id):
            return "volunteer"
        return None

    def application(self) -> tornado.web.Application:
        p = self.prefix
        kw = {"desk": self}
        return tornado.web.Application(
            [
                (rf"{p}/?", Home, kw),
                (rf"{p}/login/([A-Za-z0-9_-]{{1,100}})", Login, kw),
                (rf"{p}/login", Login, kw),
                (rf"{p}/logout", Logout, kw),
                (rf"{p}/queue", Queue, kw),
                (rf"{p}/queue/act", QueueAction, kw),
                (rf"{p}/entries", Entries, kw),
                (rf"{p}/entries/reload", Reload, kw),
                (rf"{p}/overview", OverviewPage, kw),
                (rf"{p}/themes", Themes, kw),
                (rf"{p}/themes/draft", Draft, kw),
                (rf"{p}/themes/attach", ThemeAttach, kw),
            ],
            template_path=str(HERE / "templates"),
            static_path=str(HERE / "static"),
            static_url_prefix=f"{p}/static/",
            static_handler_class=Static,
            default_handler_class=NotFound,
            default_handler_args=kw,
            log_function=_log_request,
            xheaders=False,
            compress_response=False,  # pages mix parents' text with the CSRF token: no BREACH
        )

    async def start(self) -> None:
        settings = self.services.settings
        sockets = tornado.netutil.bind_sockets(self.port, settings.desk_listen, family=socket.AF_UNSPEC)
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(
            self.application(), xheaders=False, max_body_size=1 << 20
        )
        self._server.add_sockets(sockets)
        self._warmer = asyncio.create_task(self._keep_warm())
        log.info("review desk listening on %s:%s (links: %s)", settings.desk_listen, self.port, self.base_url)

    async def _keep_warm(self) -> None:
        """Work out the guesses of new questions shortly after they arrive, not when a volunteer looks."""
        seen: tuple[object, ...] | None = None
        while True:
            try:
                snap = self.services.live.current
                version = (id(snap), await self.services.store.log_version())
                if version != seen:
                    await views.warm(self.services.store, snap, self.matches)
                    seen = version
                    self.warmed.set()
            except Exception:  # a failed round is retried; the pages work out guesses themselves anyway
                log.exception("working out the desk's guesses failed")
            await asyncio.sleep(WARM_EVERY_S)

    async def stop(self) -> None:
        if self._warmer is not None:
            self._warmer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warmer
            self._warmer = None
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Access log without sign-in tokens (a link is a password until it is used) or query strings."""
    path = handler.request.path
    if "/login/" in path:
        path = path.split("/login/", 1)[0] + "/login/…"
    status = handler.get_status()
    level = logging.WARNING if status >= 500 else logging.DEBUG
    log.log(
        level, "%s %s %s %.1f ms", handler.request.method, path, status, 1000 * handler.request.request_time()
    )


async def start_desk(services: Services, bot: Bot) -> Desk | None:
    """Start the desk for ``faqbot run``; if it cannot listen, log why and run the bot without it."""
    desk = Desk(services, bot)
    try:
        await desk.start()
    except OSError as exc:
        settings = services.settings
        log.error(
            "The review desk cannot listen on %s:%s (%s). The bot runs without it; "
            "set FAQBOT_DESK_PORT to a free port, or FAQBOT_DESK_LISTEN to an address of this machine.",
            settings.desk_listen,
            settings.desk_port,
            exc.strerror or exc,
        )
        return None
    return desk


# --------------------------------------------------------------------------- handlers


class Page(tornado.web.RequestHandler):
    """Base: security headers, the session and role of every request, CSRF on every POST."""

    needs: str | None = "volunteer"  # None: open to anyone; "admin": admins only
    nav = ""

    def initialize(self, desk: Desk) -> None:
        self.desk = desk
        self.session: Session | None = None
        self.role: str | None = None

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Server", "faqbot")

    def check_xsrf_cookie(self) -> None:  # our own token, tied to the session (see prepare)
        return None

    @property
    def base(self) -> str:
        return self.desk.prefix

    def get_template_namespace(self) -> dict[str, Any]:
        ns = super().get_template_namespace()
        ns.update(
            base=self.base,
            role=self.role,
            csrf=self.session.csrf if self.session else "",
            nav=self.nav,
            reasons=views.REASON_LABELS,
        )
        return ns

    def from_elsewhere(self) -> bool:
        """A POST a browser sent from another site (Sec-Fetch-Site, or an Origin not the desk's own).

        The CSRF token already guards signed-in forms; this also guards sign-in itself, which has no
        session yet: another site could otherwise post an insider's own link and sign a colleague's
        browser into the insider's session. Browsers send Sec-Fetch-Site (Chromium, Firefox, Safari
        since 2023); clients that send neither header are let through, as before.
        """
        if self.request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return True
        origin = self.request.headers.get("Origin")
        if origin is None or origin == "null":  # "null": every POST under our Referrer-Policy no-referrer
            return False
        own = {_origin(f"{self.request.protocol}://{self.request.host}")}
        if self.desk.services.settings.desk_url:
            own.add(_origin(self.desk.services.settings.desk_url))
        return _origin(origin) not in own

    def prepare(self) -> None:
        if self.request.method == "POST" and self.from_elsewhere():
            self.set_status(403)
            self.render("message.html", title="Form expired", text=FORM_EXPIRED)
            return
        self.session = self.desk.auth.session(self.get_cookie(COOKIE))
        if self.session is not None:
            self.role = self.desk.role(self.session.user_id)
            if self.role is None:  # removed from the lists: the session ends now
                self.desk.auth.end(self.get_cookie(COOKIE))
                self.session = None
        if self.needs is None:
            return
        if self.role is None:
            self.set_status(401)
            self.render("signin.html", problem=None)
            return
        if self.request.method == "POST" and (
            self.session is None
            or not self.desk.auth.csrf_ok(self.session, self.get_body_argument("csrf", None))
        ):
            self.set_status(403)
            self.render("message.html", title="Form expired", text=FORM_EXPIRED)
            return
        if self.needs == "admin" and self.role != "admin":
            self.set_status(403)
            self.render("message.html", title="Admins only", text="Only admins can do that.")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        title = {404: "Not found", 405: "Not allowed"}.get(status_code, "Something went wrong")
        self.render("message.html", title=title, text="Go back to the queue and try again.")

    def back_to(self, path: str, **note: object) -> None:
        query = urlencode({k: str(v) for k, v in note.items()})
        self.redirect(
            f"{self.base}{path}{'&' if '?' in path else '?'}{query}" if query else self.base + path,
            status=303,
        )

    def note(self) -> str | None:
        key = self.get_query_argument("note", "")
        if key not in NOTES:
            return None
        n = self.get_query_argument("n", "")
        entry = self.get_query_argument("entry", "")
        return NOTES[key].format(
            id=n if is_number(n) else "?",
            n=n if is_number(n) else "?",
            entry=entry if self.desk.services.live.current.kb.get(entry) else "?",
        )


def _origin(url: str) -> str:
    """scheme://host[:port] as browsers write an Origin: lower case, no default port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class Static(tornado.web.StaticFileHandler):
    """The stylesheet, with the same security headers as every page."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")


FORM_EXPIRED = "This form is out of date or did not come from the desk. Reload the page and try again."


class NotFound(Page):
    async def get(self) -> None:
        self.set_status(404)
        self.render("message.html", title="Not found", text="There is no such page on the desk.")

    post = get


class Home(Page):
    async def get(self) -> None:
        self.redirect(f"{self.base}/queue")


class Login(Page):
    """GET shows a button (so link previews and scanners cannot spend the link); POST signs in."""

    needs = None

    async def get(self, token: str = "") -> None:
        if not token or not self.desk.auth.link_valid(token):
            self.set_status(401)
            self.render("signin.html", problem="This sign-in link has expired or has already been used.")
            return
        self.render("login.html", token=token)

    async def post(self, token: str = "") -> None:
        token = self.get_body_argument("token", "")
        session_token = self.desk.auth.redeem(token) if token else None
        session = self.desk.auth.session(session_token)
        if session is None or self.desk.role(session.user_id) is None:
            self.desk.auth.end(session_token)
            self.set_status(401)
            self.render("signin.html", problem="This sign-in link has expired or has already been used.")
            return
        self.desk.auth.end(self.get_cookie(COOKIE))  # a browser holds one session: the old one ends
        self.set_cookie(
            COOKIE,
            session_token or "",
            path=self.base or "/",
            httponly=True,
            secure=self.desk.secure,
            samesite="Strict",
            expires_days=SESSION_SECONDS / 86400,
        )
        self.redirect(f"{self.base}/queue", status=303)


class Logout(Page):
    async def post(self) -> None:
        self.desk.auth.end(self.get_cookie(COOKIE))
        self.clear_cookie(COOKIE, path=self.base or "/")
        self.role = None
        self.render("signin.html", problem="You are signed out.")


class Queue(Page):
    nav = "queue"

    async def get(self) -> None:
        flt = views.QueueFilter.parse(
            {k: self.get_query_argument(k, "") for k in ("state", "order", "since", "until", "page")}
        )
        snap = self.desk.services.live.current
        rows, total = await views.queue(self.desk.services.store, snap, flt, self.desk.matches)
        self.render(
            "queue.html",
            rows=rows,
            total=total,
            flt=flt,
            pages=max(1, -(-total // views.PAGE_SIZE)),
            entries=list(snap.kb),
            note=self.note(),
            states=views.STATES,
        )


class QueueAction(Page):
    async def post(self) -> None:
        svc = self.desk.services
        action = self.get_body_argument("action", "")
        back = self.get_body_argument("back", "")
        flt = views.QueueFilter.parse(dict(parse_qsl(back[:500])))
        path = f"/queue?{flt.query_string()}"
        ids = views.parse_ids(self.get_body_arguments("id"))
        if action == "dismiss":
            done = [i for i in ids if await dismiss(svc.store, i)]
            self.back_to(path, note="dismissed", n=len(done))
            return
        if len(ids) != 1:
            self.back_to(path)
            return
        log_id = ids[0]
        if action == "reply":
            text = self.get_body_argument("text", "").strip()
            if not text:
                self.back_to(path, note="empty", n=log_id)
                return
            outcome = await send_volunteer_reply(self.desk.bot, svc.store, log_id, text[:3500])
            self.back_to(path, note="sent" if outcome is Handover.SENT else outcome.value, n=log_id)
        elif action == "attach":
            snap = svc.live.current
            wanted = self.get_body_argument("entry", "").strip()
            entry = snap.kb.get(wanted.split(" ", 1)[0])
            if entry is None:
                self.back_to(path, note="noentry", n=log_id)
                return
            outcome = await send_attached_entry(self.desk.bot, svc.store, log_id, entry, snap.kb)
            self.back_to(path, note="attached" if outcome is Handover.SENT else outcome.value, n=log_id)
        else:
            self.back_to(path)


class Entries(Page):
    nav = "entries"

    async def get(self, result: str | None = None, errors: list[str] | None = None) -> None:
        days = views.period(self.get_query_argument("days", None), 30)
        snap = self.desk.services.live.current
        rows = await views.entries(self.desk.services.store, snap, days)
        self.render(
            "entries.html",
            rows=rows,
            days=days,
            periods=views.PERIODS,
            loaded=views.loaded_at(snap),
            result=result,
            errors=errors or [],
        )


class Reload(Entries):
    needs = "admin"

    async def post(self) -> None:
        svc = self.desk.services
        staff = svc.reload_staff()  # as /reload: the staff lists first, then the FAQ
        try:
            report = await asyncio.to_thread(svc.live.reload)
        except KnowledgeError as exc:
            self.set_status(422)
            await self.get(result=staff or None, errors=exc.errors)
            return
        await self.get(result=f"{report.summary()}\n{staff}".strip(), errors=None)


class OverviewPage(Page):
    nav = "overview"

    async def get(self) -> None:
        days = views.period(self.get_query_argument("days", None), 30)
        data = await views.overview(self.desk.services.store, self.desk.services.live.current, days)
        self.render("overview.html", o=data, periods=views.PERIODS)


class Themes(Page):
    nav = "themes"

    async def get(self) -> None:
        days = views.period(self.get_query_argument("days", None), 30)
        snap = self.desk.services.live.current
        found = await views.themes_soon(self.desk.services.store, snap, days, self.desk.matches)
        if found is None:
            self.render("themes_pending.html", days=days, periods=views.PERIODS, note=self.note())
            return
        self.render(
            "themes.html",
            groups=found.groups,
            count=found.count,
            limited=found.limited,
            days=days,
            periods=views.PERIODS,
            entries=list(snap.kb),
            note=self.note(),
        )


class Draft(Page):
    nav = "themes"

    async def get(self) -> None:
        ids = views.parse_ids(self.get_query_arguments("ids"), limit=60)
        store = self.desk.services.store
        items = [i for i in [await store.get_log(n) for n in ids] if i is not None]
        self.render(
            "draft.html", text=views.draft_yaml(list(dict.fromkeys(i.text for i in items))), count=len(items)
        )


class ThemeAttach(Page):
    """Admins: keep a theme's questions as phrasings of one entry; open ones also get its answer."""

    needs = "admin"

    async def post(self) -> None:
        svc = self.desk.services
        snap = svc.live.current
        entry = snap.kb.get(self.get_body_argument("entry", "").strip().split(" ", 1)[0])
        days = views.period(self.get_body_argument("days", None), 30)
        if entry is None:
            self.back_to(f"/themes?days={days}", note="noentry", n=0)
            return
        kept = 0
        for log_id in views.parse_ids(self.get_body_arguments("id")):
            item = await svc.store.get_log(log_id)
            if item is None:
                continue
            if item.status == "open":
                outcome = await send_attached_entry(self.desk.bot, svc.store, log_id, entry, snap.kb)
                kept += outcome in (Handover.SENT, Handover.UNREACHABLE)
            elif item.status == "answered":
                kept += await svc.store.set_status(log_id, "attached", attached_entry=entry.id)
        self.back_to(f"/themes?days={days}", note="themed", n=kept, entry=entry.id)
