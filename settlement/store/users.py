"""Users of the web console and the audit log (用户与操作日志).

Three roles (:data:`ROLES`): 财务管理员 ``finance_admin`` (everything), 医保审核
``bureau_auditor`` (reads everything, compares, never closes a period), 成员单位 ``unit`` (one
unit: its own statements and its own case lists). A unit user carries its ``unit_id``.

Passwords are stored as argon2id hashes (argon2-cffi, salted, parameters inside the hash);
:meth:`UserStore.authenticate` verifies and re-hashes when the library's parameters have moved
on. Every upload, run, close and download is appended to ``audit_log`` with user and UTC time::

    users = UserStore(engine)
    users.add("zhangsan", "s3cret-Passw0rd", "unit", unit_id="01001")
    users.authenticate("zhangsan", "s3cret-Passw0rd")   → User(username='zhangsan', role='unit', …)
    users.log("zhangsan", "download", "20251231T…/units/01001", "结算单")
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from settlement.store.db import StoreError
from settlement.store.tables import audit_log, users

ROLES = {"finance_admin": "财务管理员", "bureau_auditor": "医保审核", "unit": "成员单位"}
ROLE_ALIASES = {**{zh: code for code, zh in ROLES.items()}, **{code: code for code in ROLES},
                "finance": "finance_admin", "auditor": "bureau_auditor", "bureau": "bureau_auditor"}
MIN_PASSWORD = 8
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class User:
    username: str
    role: str
    unit_id: str | None = None
    display_name: str | None = None

    @property
    def role_zh(self) -> str:
        return ROLES[self.role]


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    username: str
    action: str
    target: str | None
    detail: str | None


def role_code(text: str) -> str:
    """'财务管理员' / 'finance_admin' / 'finance' → 'finance_admin'; anything else is an error."""
    code = ROLE_ALIASES.get(text.strip())
    if code is None:
        raise StoreError(f"未知角色 unknown role: {text}（可选 {', '.join(f'{zh} {c}' for c, zh in ROLES.items())}）")
    return code


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class UserStore:
    """Users and the audit log in the run store's database (tables of revision 0004)."""

    def __init__(self, engine: sa.Engine, clock=_now):
        self.engine = engine
        self.clock = clock

    def add(self, username: str, password: str, role: str, unit_id: str | None = None,
            display_name: str | None = None) -> User:
        role = role_code(role)
        username = username.strip()
        if not username or len(username) > 64:
            raise StoreError("用户名须为 1–64 个字符 username must be 1–64 characters")
        if len(password) < MIN_PASSWORD:
            raise StoreError(f"密码至少 {MIN_PASSWORD} 位 password must have at least {MIN_PASSWORD} characters")
        if (role == "unit") != bool(unit_id):
            raise StoreError("成员单位用户必须指定 --unit（且只有成员单位用户指定）/ a unit user needs --unit, "
                             "other roles must not have one")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.username).where(users.c.username == username)).first():
                raise StoreError(f"用户已存在 user exists: {username}")
            conn.execute(users.insert().values(
                username=username, password_hash=_HASHER.hash(password), role=role,
                unit_id=unit_id or None, display_name=display_name, created_at=self.clock()))
        return User(username, role, unit_id or None, display_name)

    def remove(self, username: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(users.delete().where(users.c.username == username)).rowcount == 0:
                raise StoreError(f"没有该用户 no such user: {username}")

    def list(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.username)).mappings().all()
        return [User(r["username"], r["role"], r["unit_id"], r["display_name"]) for r in rows]

    def get(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        return None if r is None else User(r["username"], r["role"], r["unit_id"], r["display_name"])

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches its argon2 hash, else None (same work either way)."""
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        stored = r["password_hash"] if r is not None else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if r is None:
            return None
        if _HASHER.check_needs_rehash(stored):
            with self.engine.begin() as conn:
                conn.execute(users.update().where(users.c.username == username)
                             .values(password_hash=_HASHER.hash(password)))
        return User(r["username"], r["role"], r["unit_id"], r["display_name"])

    # ------------------------------------------------------------ audit log
    def log(self, username: str, action: str, target: str | None = None, detail: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit_log.insert().values(at=self.clock(), username=username, action=action,
                                                   target=target, detail=(detail or None) and detail[:4000]))

    def audit(self, limit: int = 500) -> list[AuditEntry]:
        """The latest entries, newest first."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [AuditEntry(_utc(r["at"]), r["username"], r["action"], r["target"], r["detail"]) for r in rows]


_DUMMY_HASH = _HASHER.hash("not a password: timing equaliser for unknown user names")
