"""RFC 6750 bearer tokens: reading one from an Authorization header, and the challenge a
401 carries. Every service and the gateway answer a missing or refused token alike."""

from shared._jwt import TokenError

REALM = "authstack"
_MISSING = "A bearer access token is required"


def bearer_token(authorization: str | bytes | None) -> str:
    """The token of `Authorization: Bearer <token>`; TokenError `missing_token` when there
    is none (no header, another scheme, an empty token), `invalid_token` when unreadable."""
    if authorization is None:
        raise TokenError("missing_token", _MISSING)
    if isinstance(authorization, bytes):
        try:
            authorization = authorization.decode("ascii")
        except UnicodeDecodeError:
            raise TokenError("invalid_token", "Malformed token") from None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenError("missing_token", _MISSING)
    return token


def bearer_challenge(code: str) -> str:
    """The WWW-Authenticate value of a 401 with problem `code`: no error attribute when
    the request simply had no token (RFC 6750 section 3.1)."""
    if code == "missing_token":
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="invalid_token"'
