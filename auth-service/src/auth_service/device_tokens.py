"""Device tokens (OWASP's "device cookie"): proof that this client signed in to this account
before, so strangers' failures never slow it down (auth_service.throttle).

A token is `<device id>.<issued, unix s>.<HMAC-SHA256>`; the MAC covers the account's keyed
hash as well, so a token issued for one account proves nothing for another. Stateless: it
needs no Redis read, and rotating THROTTLE_SECRET voids every token at once."""

import base64
import hashlib
import hmac
import secrets
import time

# A cookie or body field longer than this is not one of ours: not even parsed.
MAX_TOKEN_LENGTH = 128
# A token dated ahead of our clock by more than this was not made by us (clock skew allowed).
_FUTURE_SKEW_SECONDS = 300


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose only, so no two uses of THROTTLE_SECRET can be played off
    against each other (a device MAC never doubles as a counter key, and so on)."""
    return hmac.new(secret.encode(), f"authstack/{purpose}".encode(), hashlib.sha256).digest()


class DeviceTokens:
    """Issues and checks the device tokens of one THROTTLE_SECRET."""

    def __init__(self, secret: str, *, ttl_seconds: int) -> None:
        self._key = derive_key(secret, "device-token")
        self.ttl_seconds = ttl_seconds

    def _mac(self, account: str, device: str, issued: int) -> str:
        message = f"{account}.{device}.{issued}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, account: str, device: str | None = None, *, now: float | None = None) -> str:
        """A token for `account` (its keyed hash); `device` keeps a known device's id."""
        device = device or secrets.token_urlsafe(12)
        issued = int(time.time() if now is None else now)
        return f"{device}.{issued}.{self._mac(account, device, issued)}"

    def device_of(self, token: str | None, account: str, *, now: float | None = None) -> str | None:
        """The device id if `token` is ours, for `account`, and not expired; else None."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            return None
        device, _, rest = token.partition(".")
        issued_text, _, mac = rest.partition(".")
        if not device or not issued_text.isdigit() or not mac:
            return None
        issued = int(issued_text)
        # Constant time: a byte-by-byte comparison would let a caller find a valid MAC by
        # timing its guesses.
        if not hmac.compare_digest(mac.encode(), self._mac(account, device, issued).encode()):
            return None
        age = (time.time() if now is None else now) - issued
        if age > self.ttl_seconds or age < -_FUTURE_SKEW_SECONDS:
            return None
        return device
