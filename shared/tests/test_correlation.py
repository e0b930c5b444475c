import pytest

from shared import accept_or_mint, is_safe_request_id


@pytest.mark.parametrize("value", ["abc", "A-b_c.9", "x" * 128])
def test_safe_ids_are_kept(value: str) -> None:
    assert accept_or_mint(value) == value


@pytest.mark.parametrize("value", ["", "x" * 129, "a b", "a\r\nSet-Cookie: x", "é", "a/b", "{}"])
def test_unsafe_ids_are_replaced(value: str) -> None:
    minted = accept_or_mint(value)
    assert minted != value
    assert is_safe_request_id(minted)
