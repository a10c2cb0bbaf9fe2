"""Who may do what in the console (权限): sessions, CSRF tokens, login rate limit, unit scoping.

- The session is Starlette's signed cookie (itsdangerous); it holds the user name and the
  CSRF token only. The user's role and unit are read from the database on every request, so a
  removed user is out at once.
- Every form carries ``csrf`` = the session's token; a POST without the right one gets 403.
- :class:`LoginLimiter`: after 5 failed logins for one user name (or 20 from one address)
  within 5 minutes, further attempts are refused (429) until the window has passed.
- :func:`page` wraps an endpoint with its roles; :func:`require_unit` is the one check that a
  成员单位 user only ever reaches its own unit (whatever the URL says).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections import defaultdict, deque
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from settlement.store.users import User

ADMIN, AUDITOR, UNIT = "finance_admin", "bureau_auditor", "unit"
ALL_ROLES = (ADMIN, AUDITOR, UNIT)
READERS = (ADMIN, AUDITOR)  # read everything, compare


class LoginLimiter:
    """Failed logins per key (``user:<name>``, ``ip:<address>``) in a sliding window."""

    def __init__(self, attempts: int = 5, window: float = 300.0, ip_attempts: int = 20, clock=time.monotonic):
        self.attempts, self.ip_attempts, self.window, self.clock = attempts, ip_attempts, window, clock
        self.failures: dict[str, deque] = defaultdict(deque)

    def _limit(self, key: str) -> int:
        return self.ip_attempts if key.startswith("ip:") else self.attempts

    def _recent(self, key: str) -> deque:
        q, now = self.failures[key], self.clock()
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self._limit(k) for k in keys)

    def failed(self, *keys: str) -> None:
        for k in keys:
            self._recent(k).append(self.clock())

    def succeeded(self, *keys: str) -> None:
        for k in keys:
            if not k.startswith("ip:"):  # one good password does not clear an address's record
                self.failures.pop(k, None)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """403 unless the POSTed ``csrf`` field matches the session's token."""
    form = await request.form()
    sent, expected = str(form.get("csrf", "")), request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")


def current_user(request: Request) -> User | None:
    name = request.session.get("user")
    if not name:
        return None
    return request.app.state.console.users.get(name)


def page(*roles: str, csrf: bool | None = None):
    """Endpoint decorator: signed-in user with one of ``roles`` (POSTs also need the CSRF token).

    The endpoint gets ``request.state.user``. No session → redirect to the login page; wrong
    role → 403.
    """
    def wrap(endpoint):
        @functools.wraps(endpoint)
        async def guarded(request: Request):
            user = current_user(request)
            if user is None:
                target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                return RedirectResponse(f"/login?next={target}", status_code=303)
            if user.role not in roles:
                raise HTTPException(403, "无权访问此页面（角色权限不足）")
            if csrf if csrf is not None else request.method == "POST":
                await check_csrf(request)
            request.state.user = user
            return await endpoint(request)
        return guarded
    return wrap


def require_unit(user: User, unit_id: str) -> None:
    """A 成员单位 user may only see its own unit: 403 for any other id."""
    if user.role == UNIT and str(unit_id) != str(user.unit_id):
        raise HTTPException(403, "成员单位用户只能查看本单位的数据")


def safe_next(target: str | None) -> str:
    """Only local paths after login (no open redirect to another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
