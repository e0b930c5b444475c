"""The caller's own profile."""

from fastapi import APIRouter, Depends, Response

from shared import ProblemError
from user_service import crud, reads
from user_service.deps import (
    CurrentUser,
    PrincipalDep,
    ResourcesDep,
    SessionDep,
    require_active,
    subject_id,
)
from user_service.listeners import public_listener_only
from user_service.models import UserPublic, UserUpdateMe
from user_service.routes.errors import last_admin, problems
from user_service.routes.responses import validated_json

router = APIRouter(prefix="/users", tags=["users"],
                   dependencies=[Depends(public_listener_only)])


@router.get("/me", response_model=UserPublic, responses=problems(401))
async def read_me(principal: PrincipalDep, resources: ResourcesDep) -> Response:
    """Your own profile."""
    profile = require_active(await reads.get_profile(resources.reader,
                                                     user_id=subject_id(principal)))
    return validated_json(profile)


@router.patch("/me", response_model=UserPublic, responses=problems(401, 422))
async def update_me(body: UserUpdateMe, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Change your display name. The email changes only through the confirmed flow
    (`POST /auth/email/change`): an `email` other than the current one is refused (422)."""
    changes = body.model_dump(exclude_unset=True, exclude={"current_password", "email"})
    if "email" in body.model_fields_set and body.email != user.email:
        raise ProblemError(
            422, "email_change_requires_confirmation",
            "The email changes through POST /auth/email/change {new_email, current_password}, "
            "which mails a confirmation link to the new address")
    user = await crud.update_user(session, user=user, changes=changes)
    return UserPublic.model_validate(user)


@router.delete("/me", status_code=204, response_class=Response,
               responses=problems(401, 409, 503))
async def delete_me(user: CurrentUser, session: SessionDep,
                    resources: ResourcesDep) -> Response:
    """Delete your account for good (the row is removed; login and refresh stop working,
    and every access token of the account is revoked at the gateways). The last active
    admin cannot (409): nobody would be left to administer the users."""
    if crud.removes_an_admin(user=user):
        try:
            await crud.ensure_another_active_admin(session, user=user)
        except crud.LastAdminError:
            raise last_admin() from None
    # Revoked before the row goes: once it is gone, a repeated DELETE with this token
    # could not find the account to publish again.
    try:
        await resources.revocations.user_changed(str(user.id), reason="deleted")
    except Exception:
        raise ProblemError(503, "revocation_unavailable",
                           "Your account was not deleted: its access tokens could not be "
                           "revoked; repeat the request", headers={"Retry-After": "1"}) from None
    await crud.delete_user(session, user_id=user.id)
    return Response(status_code=204)
