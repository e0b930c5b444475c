"""The caller's own profile."""

from fastapi import APIRouter, Response

from shared import ProblemError
from shared.passwords import HashingBusy
from user_service import crud, reads
from user_service.deps import (
    CurrentUser,
    PrincipalDep,
    ResourcesDep,
    SessionDep,
    require_active,
    subject_id,
)
from user_service.models import UserPublic, UserUpdateMe
from user_service.routes.errors import email_taken, hashing_busy, last_admin, problems
from user_service.routes.responses import validated_json

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic, responses=problems(401))
async def read_me(principal: PrincipalDep, resources: ResourcesDep) -> Response:
    """Your own profile."""
    profile = require_active(await reads.get_profile(resources.reader,
                                                     user_id=subject_id(principal)))
    return validated_json(profile)


@router.patch("/me", response_model=UserPublic,
              responses=problems(401, 403, 409, 422, 503))
async def update_me(
    body: UserUpdateMe, user: CurrentUser, session: SessionDep, resources: ResourcesDep
) -> UserPublic:
    """Change your display name, or your email (which needs `current_password`)."""
    changes = body.model_dump(exclude_unset=True, exclude={"current_password"})
    if changes.get("email", user.email) is None:
        raise ProblemError(422, "validation_error", "email cannot be null")
    if "email" in changes and changes["email"] != user.email:
        if body.current_password is None:
            raise ProblemError(422, "current_password_required",
                               "Changing the email needs the current password")
        try:
            check = await resources.hasher.verify(user.password_hash, body.current_password)
        except HashingBusy:
            raise hashing_busy() from None
        if not check.valid:
            raise ProblemError(403, "invalid_password", "The current password is wrong")
    try:
        user = await crud.update_user(session, user=user, changes=changes)
    except crud.EmailTakenError:
        raise email_taken() from None
    return UserPublic.model_validate(user)


@router.delete("/me", status_code=204, response_class=Response,
               responses=problems(401, 409))
async def delete_me(user: CurrentUser, session: SessionDep) -> Response:
    """Delete your account for good (the row is removed; login and refresh stop working).
    The last active admin cannot (409): nobody would be left to administer the users."""
    if crud.removes_an_admin(user=user):
        try:
            await crud.ensure_another_active_admin(session, user=user)
        except crud.LastAdminError:
            raise last_admin() from None
    await crud.delete_user(session, user_id=user.id)
    return Response(status_code=204)
