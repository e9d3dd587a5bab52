"""Sign-in for the desk: one-time magic links, sessions and CSRF tokens, held in memory only.

Only SHA-256 hashes of the link and session tokens are kept, with the Telegram user id they belong
to and when they expire: nothing else. A restart of the bot signs everyone out. Roles are not
stored here: the desk checks the session's user against the configured lists on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

LINK_SECONDS = 10 * 60
SESSION_SECONDS = 12 * 60 * 60
MAX_SESSIONS = 1000  # bound memory: the oldest sessions go first


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    expires: float
    csrf: str


class Auth:
    """Magic links (single use, 10 minutes) and sessions (12 hours), keyed by token hashes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._links: dict[str, tuple[int, float]] = {}
        self._sessions: dict[str, Session] = {}

    def _prune(self) -> None:
        now = self.clock()
        self._links = {h: v for h, v in self._links.items() if v[1] > now}
        self._sessions = {h: s for h, s in self._sessions.items() if s.expires > now}
        while len(self._sessions) > MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]

    def issue_link(self, user_id: int) -> str:
        """A new sign-in token for ``user_id``; any older unused link of theirs stops working."""
        self._prune()
        self._links = {h: v for h, v in self._links.items() if v[0] != user_id}
        token = secrets.token_urlsafe(32)
        self._links[_hash(token)] = (user_id, self.clock() + LINK_SECONDS)
        return token

    def link_valid(self, token: str) -> bool:
        """Is this link still usable? (Looks only; opening the page does not spend the link.)"""
        found = self._links.get(_hash(token))
        return found is not None and found[1] > self.clock()

    def redeem(self, token: str) -> str | None:
        """Spend a link and start a session; the session token, or None for a stale or used link."""
        found = self._links.pop(_hash(token), None)
        if found is None or found[1] <= self.clock():
            return None
        self._prune()
        session_token = secrets.token_urlsafe(32)
        digest = _hash(session_token)
        csrf = hmac.new(self._key, digest.encode(), hashlib.sha256).hexdigest()
        self._sessions[digest] = Session(found[0], self.clock() + SESSION_SECONDS, csrf)
        return session_token

    def session(self, token: str | None) -> Session | None:
        """The live session for a cookie value, or None."""
        if not token:
            return None
        found = self._sessions.get(_hash(token))
        if found is None or found.expires <= self.clock():
            return None
        return found

    def end(self, token: str | None) -> None:
        """Sign out: the session token stops working at once."""
        if token:
            self._sessions.pop(_hash(token), None)

    def forget_user(self, user_id: int) -> None:
        """/forget: every link and session of this user stops working, and their id leaves memory."""
        self._links = {h: v for h, v in self._links.items() if v[0] != user_id}
        self._sessions = {h: s for h, s in self._sessions.items() if s.user_id != user_id}

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(session.csrf, given or "")
