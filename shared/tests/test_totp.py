import pytest

from shared import totp

# RFC 6238 appendix B, the SHA1 rows: seed "12345678901234567890" (ASCII), 8-digit values.
RFC_SEED = b"12345678901234567890"
RFC_SHA1_VECTORS = [
    (59, 0x0000001, "94287082"),
    (1111111109, 0x23523EC, "07081804"),
    (1111111111, 0x23523ED, "14050471"),
    (1234567890, 0x273EF07, "89005924"),
    (2000000000, 0x3F940AA, "69279037"),
    (20000000000, 0x27BC86AA, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "step", "expected"), RFC_SHA1_VECTORS)
def test_rfc6238_sha1_vectors(unix_time: int, step: int, expected: str) -> None:
    assert totp.current_step(unix_time) == step
    assert totp.hotp(RFC_SEED, step, digits=8) == expected
    # Our 6-digit codes are the same value modulo 10^6: the last six digits.
    secret_b32 = totp.secret_to_base32(RFC_SEED)
    assert totp.totp_code(secret_b32, at=unix_time) == expected[-6:]
    assert totp.verify(RFC_SEED, expected[-6:], now=unix_time) == step


def test_base32_round_trip_without_padding() -> None:
    secret = totp.new_secret()
    assert len(secret) == totp.SECRET_BYTES
    shown = totp.secret_to_base32(secret)
    assert "=" not in shown
    assert shown == shown.upper()
    assert totp.secret_from_base32(shown) == secret
    assert totp.secret_from_base32(shown.lower()) == secret
    with pytest.raises(ValueError, match="not base32"):
        totp.secret_from_base32("not base32!")


def test_verify_accepts_one_step_either_side_and_no_more() -> None:
    # A fixed secret and time: deterministic, so no chance collision between steps' codes.
    secret = RFC_SEED
    shown = totp.secret_to_base32(secret)
    at = 1_700_000_000.0
    step = totp.current_step(at)
    for offset in (-1, 0, 1):
        code = totp.totp_code(shown, at=at, step_offset=offset)
        assert totp.verify(secret, code, now=at) == step + offset
    for offset in (-2, 2):
        code = totp.totp_code(shown, at=at, step_offset=offset)
        assert totp.verify(secret, code, now=at) is None
    two_ahead = totp.totp_code(shown, at=at, step_offset=2)
    assert totp.verify(secret, two_ahead, now=at, window=2) == step + 2


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", " 12345"])
def test_verify_refuses_malformed_codes(code: str) -> None:
    assert totp.verify(totp.new_secret(), code) is None


def test_wrong_secret_does_not_verify() -> None:
    at = 1_700_000_000.0
    code = totp.hotp(RFC_SEED, totp.current_step(at))
    assert totp.verify(RFC_SEED, code, now=at) == totp.current_step(at)
    assert totp.verify(b"another secret of twenty", code, now=at) is None
