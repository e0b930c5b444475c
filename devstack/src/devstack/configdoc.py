"""The configuration reference (docs/configuration.md), generated from the settings classes.

Each service's settings class is the only definition of its environment variables; this
renders it (name, default, the comment written beside or above the field) so the operator
docs cannot drift: a test compares the committed file with a fresh rendering."""

import ast
import inspect
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from devstack.paths import REPO_ROOT

DOC_PATH = REPO_ROOT / "docs" / "configuration.md"
SECRET_SUFFIXES = ("_TOKEN", "PASSWORD", "SECRET")


def _services() -> list[tuple[str, type[BaseSettings]]]:
    from auth_service.config import Settings as AuthSettings
    from gateway.config import Settings as GatewaySettings
    from user_service.config import Settings as UserSettings

    return [("gateway", GatewaySettings), ("auth-service", AuthSettings),
            ("user-service", UserSettings)]


def _field_comments(cls: type) -> dict[str, str]:
    """Field name -> the `#` comment on its line or the comment lines right above it."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseSettings)):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        tree = ast.parse(inspect.cleandoc("\n" + source) if source[0].isspace() else source)
        for node in ast.walk(tree):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                row = node.lineno - 1
                # A linter's suppression beside a field is for the linter, not the reader.
                text = lines[row].partition("  # ")[2].partition("noqa")[0].strip()
                above: list[str] = []
                while row > 0 and lines[row - 1].strip().startswith("#"):
                    row -= 1
                    above.insert(0, lines[row].strip().lstrip("# ").strip())
                text = " ".join([*above, text]).strip()
                if text:  # a subclass overriding a default keeps the base's explanation
                    comments[node.target.id] = text.replace("|", "\\|")
    return comments


def _default(name: str, value: Any) -> str:
    if value is PydanticUndefined:  # a default_factory: machine-dependent, see its comment
        return "(computed)"
    if name.endswith(SECRET_SUFFIXES):
        return "(secret; a local placeholder, refused in production)"
    if value is None:
        return "(none)"
    text = str(value)
    return f"`{text}`" if text else '`""`'


def render() -> str:
    """The whole reference as Markdown."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the settings classes by `uv run --frozen devstack config-doc`; a test",
        "fails when this file and the code disagree. Every setting is an environment variable of",
        "the same name. The native launcher (`make up`) sets ports, URLs, `DATABASE_URL`,",
        "`REDIS_NODES`, `JWT_KEYS_DIR`, a generated `INTERNAL_API_TOKEN` and each service's Redis",
        "ACL login (`REDIS_USERNAME`, `REDIS_PASSWORD_FILE`: docs/operations.md, \"Redis",
        "credentials\"); compose sets them in `deploy/compose.yml` and `.env`.",
    ]
    for service, cls in _services():
        comments = _field_comments(cls)
        out += ["", f"## {service}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            out.append(f"| `{name}` | {_default(name, field.default)} | {comments.get(name, '')} |")
    return "\n".join(out) + "\n"


def write(path: Path = DOC_PATH) -> Path:
    path.write_text(render())
    return path
