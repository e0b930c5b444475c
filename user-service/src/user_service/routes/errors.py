"""Problem errors the routes share (one definition per stable code)."""

from typing import Any

from shared import ProblemError


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's problem+json answers (FastAPI's own 422 entry says
    application/json with its HTTPValidationError body, which is not what we send)."""
    return {status: {"content": {"application/problem+json": {}}} for status in statuses}


def user_not_found() -> ProblemError:
    return ProblemError(404, "user_not_found", "No such user")


def last_admin() -> ProblemError:
    return ProblemError(409, "last_admin",
                        "This would leave no active admin; promote another user first")


def email_taken() -> ProblemError:
    return ProblemError(409, "email_taken", "This email address is already registered")


def hashing_busy() -> ProblemError:
    # The auth service answers the same code for the same condition (its hasher's queue).
    return ProblemError(503, "hashing_busy", "Too many passwords are being checked; retry shortly",
                        headers={"Retry-After": "1"})


def step_up_required() -> ProblemError:
    # The auth service answers the same code for its own sensitive actions.
    return ProblemError(403, "step_up_required",
                        "This action needs a recent second factor: "
                        "POST /auth/reauthenticate with your password and a code first")
