"""Register, login, refresh rotation, logout and JWKS for the authstack."""

__version__ = "0.1.0"
