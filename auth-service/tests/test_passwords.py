"""Password policy at registration, and login's no-enumeration parity."""

from typing import Any

import pytest

from shared.passwords import common_passwords


async def _register(auth: Any, password: str, email: str | None = None) -> Any:
    return await auth.client.post("/auth/register",
                                  json={"email": email or auth.new_email(), "password": password})


@pytest.mark.parametrize(("length", "status"), [(11, 422), (12, 201), (1024, 201), (1025, 422)])
async def test_length_limits(auth: Any, problem: Any, length: int, status: int) -> None:
    password = ("correct horse battery staple " * 40)[:length]
    email = auth.new_email()
    response = await _register(auth, password, email)
    if status == 422:
        body = problem(response, 422, "validation_error")
        assert password not in response.text  # never echoed back
        assert body["errors"][0]["loc"] == ["body", "password"]
    else:
        assert response.status_code == 201, response.text
        await auth.login(email, password)  # the whole password counts, nothing truncated
        wrong = await auth.client.post("/auth/login",
                                       json={"email": email, "password": password[:-1]})
        problem(wrong, 401, "invalid_credentials")


@pytest.mark.parametrize("password", ["password1234", "Qwertyuiop123", "123456789012",
                                      "iloveyou1234"])
async def test_common_passwords_are_refused(auth: Any, problem: Any, password: str) -> None:
    problem(await _register(auth, password), 422, "password_too_common")


def test_common_list_is_small_and_long_enough_to_matter() -> None:
    words = common_passwords()
    assert 1000 < len(words) < 5000
    assert all(len(w) >= 12 for w in words)


async def test_duplicate_and_invalid_email(auth: Any, problem: Any) -> None:
    email = await auth.register()
    problem(await _register(auth, auth.password, email.upper()), 409, "email_taken")
    problem(await _register(auth, auth.password, "not-an-email"), 422, "validation_error")


async def test_unknown_email_and_wrong_password_look_the_same(
    auth: Any, sql: Any
) -> None:
    email = await auth.register()
    disabled = await auth.register()
    await sql("UPDATE users SET is_active = false WHERE email = %s", disabled)
    answers = [
        await auth.client.post("/auth/login", json={"email": e, "password": p})
        for e, p in [(auth.new_email(), auth.password), (email, "wrong password!!"),
                     (disabled, auth.password)]
    ]

    def shape(response: Any) -> tuple[Any, ...]:
        body = {k: v for k, v in response.json().items() if k != "request_id"}
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("x-request-id", "content-length")}
        return response.status_code, body, headers

    assert shape(answers[0]) == shape(answers[1]) == shape(answers[2])
    assert answers[0].status_code == 401
    assert answers[0].json()["code"] == "invalid_credentials"
