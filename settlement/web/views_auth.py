"""Signing in and out, and the home page of each role (登录与首页)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from settlement.web.app import render
from settlement.web.security import ALL_ROLES, UNIT, check_csrf, csrf_token, page, safe_next


async def login_form(request: Request):
    csrf_token(request)
    return render(request, "login.html", next=safe_next(request.query_params.get("next")))


async def login(request: Request):
    await check_csrf(request)
    console = request.app.state.console
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    client = f"ip:{request.client.host if request.client else '-'}"
    keys = (f"user:{username}", client)
    if console.limiter.blocked(*keys):
        raise HTTPException(429, "登录失败次数过多，请 5 分钟后再试")
    user = console.users.authenticate(username, password) if username and password else None
    if user is None:
        console.limiter.failed(*keys)
        return render(request, "login.html", status_code=401, error="用户名或密码错误",
                      next=safe_next(str(form.get("next", ""))), username=username)
    console.limiter.succeeded(*keys)
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
    request.session["user"] = user.username
    csrf_token(request)
    console.users.log(user.username, "login", None, f"角色 {user.role_zh}")
    return RedirectResponse(safe_next(str(form.get("next", ""))), status_code=303)


@page(*ALL_ROLES)
async def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@page(*ALL_ROLES)
async def home(request: Request):
    console, user = request.app.state.console, request.state.user
    runs = list(reversed(console.store.list_runs()))
    if user.role == UNIT:
        runs = [r for r in runs if r.status == "succeeded"]
    return render(request, "home.html", runs=runs, jobs=console.jobs.recent(10) if user.role != UNIT else [])


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home, methods=["GET"]),
]
