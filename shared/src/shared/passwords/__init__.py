"""Passwords (opt-in: loads argon2): argon2id hashing off the event loop, and the one
password policy every place that sets a password applies."""

from shared.passwords._hasher import (
    DEFAULT_QUEUE_LIMIT,
    HASH_THREAD_NICENESS,
    Argon2Params,
    HashingBusy,
    PasswordCheck,
    PasswordHasher,
)
from shared.passwords._policy import (
    MAX_LENGTH,
    MIN_LENGTH,
    GivenPassword,
    NewPassword,
    PasswordRejected,
    check_new_password,
    common_passwords,
)
from shared.passwords._settings import PasswordSettings

__all__ = [
    "DEFAULT_QUEUE_LIMIT",
    "HASH_THREAD_NICENESS",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "Argon2Params",
    "GivenPassword",
    "HashingBusy",
    "NewPassword",
    "PasswordCheck",
    "PasswordHasher",
    "PasswordRejected",
    "PasswordSettings",
    "check_new_password",
    "common_passwords",
]
