"""Mail templates: `templates/<name>.subject.txt`, `<name>.txt` and `<name>.html`, Jinja2,
rendered by the sender (never at enqueue time). The HTML part is autoescaped; the subject
and the plain part are not (they are not HTML). Every template also sees `public_base_url`."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"
PARTS = ("subject.txt", "txt", "html")


class UnknownTemplate(ValueError):
    """A mail template name with no files (a programming error: caught by tests)."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailTemplates:
    """Looks templates up and renders them; `public_base_url` goes into every context."""

    def __init__(self, public_base_url: str, directory: Path = TEMPLATE_DIR) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self.directory = directory
        self._env = Environment(
            loader=FileSystemLoader(directory), undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=True,
        )

    def exists(self, name: str) -> bool:
        if not name or not name.replace("_", "").isalnum():
            return False
        return all((self.directory / f"{name}.{part}").is_file() for part in PARTS)

    def check(self, name: str) -> None:
        if not self.exists(name):
            raise UnknownTemplate(f"no mail template {name!r} in {self.directory}")

    def render(self, name: str, context: Mapping[str, str]) -> RenderedMail:
        self.check(name)
        values = {**context, "public_base_url": self.public_base_url}
        subject, text, html = (self._env.get_template(f"{name}.{part}").render(values)
                               for part in PARTS)
        # A header is one line: a context value with a newline must not add headers.
        return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)
