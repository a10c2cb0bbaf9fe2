"""The console application (网页控制台): Starlette, server-rendered Jinja2 pages, a little htmx.

:func:`create_app` builds the ASGI app around one :class:`Console` — the database (run store,
users, audit log), the working folder (``uploads/``, ``reports/``, the configs found there)
and the background jobs. Pages live in ``views_*.py``; templates and the local copy of htmx
ship inside the package (``templates/``, ``static/``): no CDN, no Node build.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from settlement.money import yuan_display
from settlement.reconcile.lines import PAYER_ZH
from settlement.store import RunStore
from settlement.store.users import ROLES, UserStore
from settlement.web.jobs import Jobs
from settlement.web.security import LoginLimiter, csrf_token, current_user
from settlement.wording import scenario_zh

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.filters["yuan"] = lambda fen: "" if fen is None else yuan_display(int(fen))
TEMPLATES.env.filters["scenario_zh"] = scenario_zh
TEMPLATES.env.filters["payer_zh"] = lambda code: PAYER_ZH.get(code, "") if isinstance(code, str) else ""
TEMPLATES.env.globals["ROLES"] = ROLES
SESSION_HOURS = 8


@dataclass
class ConfigFile:
    path: Path
    label: str
    overlay: bool  # has base_config: a scenario
    year: int | None = None  # settlement_year (the months a month run may be started for)


@dataclass
class Console:
    """What every page needs: the stores, the working folder, the jobs."""

    db_url: str
    workdir: Path
    store: RunStore = field(init=False)
    users: UserStore = field(init=False)
    jobs: Jobs = field(default_factory=Jobs)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)

    def __post_init__(self):
        self.workdir = Path(self.workdir).resolve()
        self.store = RunStore.open(self.db_url)
        self.store.upgrade()
        self.users = UserStore(self.store.engine)

    @property
    def reports(self) -> Path:
        return self.workdir / "reports"

    def configs(self) -> list[ConfigFile]:
        """YAML configs in the working folder, its ``configs/`` and ``scenarios/`` (``settlement init``
        makes both); scenarios are those with ``base_config``."""
        found = set(self.workdir.glob("*.yaml"))
        for sub in ("configs", "scenarios"):
            found |= set((self.workdir / sub).glob("**/*.yaml"))
        found = sorted(found)
        out = []
        for path in found:
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
            except (yaml.YAMLError, UnicodeDecodeError, OSError):
                continue
            if isinstance(raw, dict) and ("parameters" in raw or "base_config" in raw):
                label = str(path.relative_to(self.workdir)).replace("\\", "/")
                year = raw.get("settlement_year")
                out.append(ConfigFile(path, label, raw.get("base_config") is not None,
                                      year if isinstance(year, int) else None))
        return out

    def config_by_label(self, label: str) -> ConfigFile | None:
        """Only a config the console listed: a form can never name another file."""
        return next((c for c in self.configs() if c.label == label), None)

    def run_dir(self, record) -> Path:
        given = getattr(record, "report_dir", None)
        if given:
            path = Path(given)
            return path if path.is_absolute() else self.workdir / path
        return self.reports / record.run_id


def render(request: Request, name: str, status_code: int = 200, **context):
    user = getattr(request.state, "user", None) or current_user(request)
    return TEMPLATES.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **context},
                                      status_code=status_code)


async def http_error(request: Request, exc: HTTPException):
    messages = {404: "找不到该页面或数据", 403: "无权访问", 429: "尝试过于频繁，请稍后再试"}
    detail = exc.detail if exc.detail and exc.detail not in ("Not Found", "Forbidden") else messages.get(
        exc.status_code, "请求有误")
    return render(request, "error.html", status_code=exc.status_code, code=exc.status_code, detail=detail)


def create_app(db_url: str, workdir: Path | str = ".", secret_key: str | None = None,
               limiter: LoginLimiter | None = None) -> Starlette:
    """The console app on ``db_url`` (upgraded to the head revision) working in ``workdir``."""
    from settlement.web import views_auth, views_data, views_results

    console = Console(db_url, Path(workdir))
    if limiter is not None:
        console.limiter = limiter
    routes = [*views_auth.ROUTES, *views_data.ROUTES, *views_results.ROUTES,
              Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static")]
    middleware = [Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32),
                             session_cookie="settlement_session", max_age=SESSION_HOURS * 3600,
                             same_site="strict")]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: http_error},
                    lifespan=_lifespan(console))
    app.state.console = console
    return app


def _lifespan(console: Console):
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        console.jobs.shutdown()
        console.store.dispose()
    return lifespan
