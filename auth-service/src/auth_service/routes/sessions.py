"""Sessions: a user's own (list, end one, sign out everywhere) and an admin's view of
anyone's. Ending is idempotent: an unknown, already ended or someone else's session id
answers 204 and changes nothing."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from auth_service.deps import CurrentPrincipal, ResourcesDep
from auth_service.schemas import SessionList, SessionPublic
from auth_service.session_store import SessionInfo
from auth_service.tokens import SESSION_ID_RE
from shared import Principal

router = APIRouter(prefix="/auth", tags=["sessions"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {401: _PROBLEM, 422: _PROBLEM, 503: _PROBLEM}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _PROBLEM, 403: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM, 503: _PROBLEM}
IncludeCurrent = Annotated[bool, Query(description="end the caller's own session too")]
# A malformed id is a 422; a well-formed one that names nothing of the caller's, a no-op.
SessionId = Annotated[str, Path(pattern=SESSION_ID_RE.pattern,
                                description="a session id (the `sid` claim)")]
UserId = Annotated[uuid.UUID, Path(description="the user's id")]


def _sid(principal: Principal) -> str | None:
    return principal.session_id  # None for a token issued before sessions


def _listing(sessions: list[SessionInfo], current: str | None) -> SessionList:
    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    return SessionList(items=[
        SessionPublic(id=s.id, created_at=at(s.created_at), last_used_at=at(s.last_used_at),
                      ip=s.ip, user_agent=s.user_agent, amr=s.amr, current=s.id == current)
        for s in sessions])


@router.get("/sessions", response_model=SessionList, responses=_ERRORS)
async def list_sessions(resources: ResourcesDep, principal: CurrentPrincipal) -> SessionList:
    """The caller's live sessions; `current` marks the one this token belongs to."""
    return _listing(await resources.sessions.live(principal.subject), _sid(principal))


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response,
               responses=_ERRORS)
async def end_session(session_id: SessionId, resources: ResourcesDep,
                      principal: CurrentPrincipal) -> None:
    """End one of the caller's sessions (its refresh token dies, its access tokens are
    refused everywhere within about a second)."""
    await resources.sessions.end(principal.subject, session_id, reason="ended")


@router.delete("/sessions", status_code=204, response_class=Response, responses=_ERRORS)
async def end_sessions(resources: ResourcesDep, principal: CurrentPrincipal,
                       include_current: IncludeCurrent = False) -> None:
    """Sign out everywhere else (`include_current=true`: everywhere)."""
    keep = None if include_current else _sid(principal)
    await resources.sessions.end_all(principal.subject, keep=keep, reason="ended")


@router.get("/admin/users/{user_id}/sessions", response_model=SessionList,
            responses=_ADMIN_ERRORS)
async def admin_list_sessions(user_id: UserId, resources: ResourcesDep,
                              principal: CurrentPrincipal) -> SessionList:
    """A user's live sessions (admin)."""
    target = await resources.session_admin.target(principal, str(user_id))
    current = _sid(principal) if target == principal.subject else None
    return _listing(await resources.sessions.live(target), current)


@router.delete("/admin/users/{user_id}/sessions", status_code=204, response_class=Response,
               responses=_ADMIN_ERRORS)
async def admin_end_sessions(user_id: UserId, resources: ResourcesDep,
                             principal: CurrentPrincipal) -> None:
    """End every session of a user (admin)."""
    target = await resources.session_admin.target(principal, str(user_id))
    await resources.sessions.end_all(target, keep=None, reason="admin")


@router.delete("/admin/users/{user_id}/sessions/{session_id}", status_code=204,
               response_class=Response, responses=_ADMIN_ERRORS)
async def admin_end_session(user_id: UserId, session_id: SessionId, resources: ResourcesDep,
                            principal: CurrentPrincipal) -> None:
    """End one session of a user (admin)."""
    target = await resources.session_admin.target(principal, str(user_id))
    await resources.sessions.end(target, session_id, reason="admin")
