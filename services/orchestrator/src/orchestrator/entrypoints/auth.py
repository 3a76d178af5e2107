"""Authentication and authorization for the admin API (S1, U1, S6): bearer sessions, the
role/site checks as FastAPI dependencies, and the session and user routes. A dependency that
refuses raises the refusal; the route's ``AdminRoute`` answers it (``entrypoints/errors.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from lockstep_shared.catalogue import SiteId
from lockstep_shared.http_limits import refusals
from orchestrator.domain.accounts import (
    MIN_PASSWORD_LENGTH,
    Account,
    Permission,
    Role,
    Unauthenticated,
    authorize,
)
from orchestrator.entrypoints.errors import AdminRoute
from orchestrator.entrypoints.params import SitePath, UpdateIdPath
from orchestrator.service_layer.accounts import AccountHandlers
from orchestrator.service_layer.views import Views

MAX_SITES = 1000  # sites one account is given at once


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class SessionView(BaseModel):
    token: str
    username: str
    role: str
    sites: list[str]
    expires_at: datetime


class NewUserBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"role": {"enum": ["admin", "user"]}}},
        "then": {"required": ["sites"], "properties": {"sites": {"minItems": 1}}},
        "description": "an admin or a user needs at least one site ('*' = every site)"})

    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1000)
    role: Role
    sites: list[SiteId | Literal["*"]] = Field(default=[], max_length=MAX_SITES)


class UserView(BaseModel):
    username: str
    role: str
    sites: list[str]
    disabled: bool = False
    created_at: datetime | None = None


BEARER = HTTPBearer(auto_error=False, scheme_name="session",
                    description="the token of POST /api/v1/sessions")


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("log in first (POST /api/v1/sessions) and send "
                              "'Authorization: Bearer <token>'")
    return token.strip()


class Guard:
    """Dependencies that authenticate the bearer token and check the role and site."""

    def __init__(self, accounts: AccountHandlers, views: Views) -> None:
        self.accounts = accounts
        self.views = views
        self._authenticated = Depends(self.account)

    async def account(
        self, authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> Account:
        return await self.accounts.authenticate(bearer_token(authorization))

    def anyone(self) -> Callable[..., Awaitable[Account]]:
        return self.account

    def allowed(self, permission: Permission) -> Callable[..., Awaitable[Account]]:
        """A permission that is not about one site (create a site, audit, users)."""
        async def check(account: Account = self._authenticated) -> Account:
            authorize(account, permission, None)
            return account
        return check

    def site(self, permission: Permission) -> Callable[..., Awaitable[Account]]:
        async def check(site_id: SitePath,
                        account: Account = self._authenticated) -> Account:
            authorize(account, permission, site_id)
            return account
        return check

    def update(self, permission: Permission) -> Callable[..., Awaitable[Account]]:
        async def check(update_id: UpdateIdPath,
                        account: Account = self._authenticated) -> Account:
            authorize(account, permission, await self.views.site_of_update(update_id))
            return account
        return check


def _user_view(account: Account, **extra: object) -> UserView:
    return UserView(username=account.username, role=account.role.value,
                    sites=list(account.sites), **extra)  # type: ignore[arg-type]


def accounts_router(accounts: AccountHandlers, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["accounts"], route_class=AdminRoute,
                       responses=refusals(401, 403, 409, 413, 422))
    anyone_dep = Depends(guard.anyone())
    user_manager_dep = Depends(guard.allowed(Permission.MANAGE_USERS))

    @router.post("/sessions", status_code=201, response_model=SessionView,
                 responses=refusals(429))
    async def login(body: LoginBody, request: Request) -> SessionView:
        """Log in: a bearer token valid 12 h. 5 failures per username and client within
        5 minutes → 429 with Retry-After (S6)."""
        client = request.client.host if request.client else "unknown"
        session = await accounts.login(body.username, body.password, client)
        a = session.account
        return SessionView(token=session.token, username=a.username, role=a.role.value,
                           sites=list(a.sites), expires_at=session.expires_at)

    @router.delete("/sessions/current", status_code=204)
    async def logout(account: Account = anyone_dep,
                     authorization: Annotated[str | None, Header()] = None) -> None:
        await accounts.logout(bearer_token(authorization), account)

    @router.post("/users", status_code=201, response_model=UserView,
                 responses=refusals(404))  # a site named does not exist
    async def create_user(body: NewUserBody, creator: Account = user_manager_dep) -> UserView:
        """Admins create admins and users of their sites; support creates anyone. Every site
        named must exist (404 ``not_found`` otherwise: nothing is created)."""
        account = await accounts.create_user(creator, body.username, body.password,
                                             body.role, body.sites)
        return _user_view(account)

    @router.get("/users", response_model=list[UserView])
    async def list_users(viewer: Account = user_manager_dep) -> list[UserView]:
        return [_user_view(u.account, disabled=u.disabled, created_at=u.created_at)
                for u in await accounts.users(viewer)]

    return router
