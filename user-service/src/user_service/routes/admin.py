"""User administration (role admin, by token and by database row)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from shared import ProblemError
from user_service import crud
from user_service.cursor import InvalidCursorError
from user_service.deps import AdminUser, ResourcesDep, SessionDep, SettingsDep, SteppedUpAdmin
from user_service.listeners import public_listener_only
from user_service.models import EmailPrefix, Role, UserPublic, UsersPublic, UserUpdate
from user_service.routes.errors import email_taken, last_admin, problems, user_not_found

router = APIRouter(prefix="/users", tags=["admin"],
                   dependencies=[Depends(public_listener_only)])


@router.get("", response_model=UsersPublic, responses=problems(401, 403, 422))
async def list_users(
    _: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, description="Page size; clamped to the max")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    email_prefix: Annotated[EmailPrefix | None, Query()] = None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> UsersPublic:
    """List users, oldest first, with keyset pagination and filters."""
    page_size = min(limit or settings.PAGE_SIZE_DEFAULT, settings.PAGE_SIZE_MAX)
    flt = crud.UserFilter(email_prefix=email_prefix, role=role, is_active=is_active)
    try:
        rows, total, next_cursor = await crud.list_users(session, flt=flt, limit=page_size,
                                                               cursor=cursor)
    except InvalidCursorError:
        raise ProblemError(422, "invalid_cursor", "The cursor is not valid") from None
    items = [UserPublic.model_validate(row) for row in rows]
    return UsersPublic(items=items, total=total, next_cursor=next_cursor)


@router.get("/{user_id}", response_model=UserPublic,
            responses=problems(401, 403, 404, 422))
async def read_user(user_id: uuid.UUID, _: AdminUser, session: SessionDep) -> UserPublic:
    """One user by id."""
    user = await crud.get_user(session, user_id=user_id)
    if user is None:
        raise user_not_found()
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", response_model=UserPublic,
              responses=problems(401, 403, 404, 409, 422))
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, _: SteppedUpAdmin, session: SessionDep,
    resources: ResourcesDep,
) -> UserPublic:
    """Change a user's role, active flag, display name or email (a new email is
    unverified until its owner confirms it); a role change or a disable revokes the
    user's access tokens (every gateway refuses them within about a second). An admin
    with MFA needs a recent second factor (403 `step_up_required`)."""
    user = await crud.get_user(session, user_id=user_id)
    if user is None:
        raise user_not_found()
    changes = body.model_dump(exclude_unset=True)
    for name in ("role", "is_active", "email"):
        if name in changes and changes[name] is None:
            raise ProblemError(422, "validation_error", f"{name} cannot be null")
    if crud.removes_an_admin(user=user, changes=changes):
        try:
            await crud.ensure_another_active_admin(session, user=user)
        except crud.LastAdminError:
            raise last_admin() from None
    # Asked for, not only changed: a repeated request (after a 503) appends again.
    revokes = "role" in changes or changes.get("is_active") is False
    try:
        user = await crud.update_user(session, user=user, changes=changes)
    except crud.EmailTakenError:
        raise email_taken() from None
    public = UserPublic.model_validate(user)
    if revokes:
        await _revoke(resources, str(user_id),
                      reason="role_change" if "role" in changes else "disabled")
    return public


@router.delete("/{user_id}", status_code=204, response_class=Response,
               responses=problems(401, 403, 404, 409, 422))
async def delete_user(user_id: uuid.UUID, _: SteppedUpAdmin, session: SessionDep,
                      resources: ResourcesDep) -> Response:
    """Delete a user for good (not the last active admin: 409; an admin with MFA needs a
    recent second factor: 403 `step_up_required`); their access tokens are revoked. A
    repeated DELETE (after a 503 said the revocation was not published) finds no row,
    publishes again and answers 404: otherwise the old tokens would live on."""
    user = await crud.get_user(session, user_id=user_id)
    if user is None:
        await _revoke(resources, str(user_id), reason="deleted")
        raise user_not_found()
    if crud.removes_an_admin(user=user):
        try:
            await crud.ensure_another_active_admin(session, user=user)
        except crud.LastAdminError:
            raise last_admin() from None
    if not await crud.delete_user(session, user_id=user_id):
        raise user_not_found()
    await _revoke(resources, str(user_id), reason="deleted")
    return Response(status_code=204)


async def _revoke(resources: ResourcesDep, user_id: str, *, reason: str) -> None:
    try:
        await resources.revocations.user_changed(user_id, reason=reason)
    except Exception:
        raise ProblemError(503, "revocation_unavailable",
                           "The change is saved, but its revocation could not be published; "
                           "repeat the request", headers={"Retry-After": "1"}) from None
