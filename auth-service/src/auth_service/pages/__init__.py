"""The account pages: the pages mailed links open, and a minimal account page.

Server-rendered (Jinja2), no build step. A mailed token travels in the URL fragment, which
no server ever receives: the page's own script reads it and only a POST it sends on a
click spends it, so a link scanner's GET consumes nothing."""

from auth_service.pages._routes import PAGE_PATHS, STATIC_PATHS, router

__all__ = ["PAGE_PATHS", "STATIC_PATHS", "router"]
