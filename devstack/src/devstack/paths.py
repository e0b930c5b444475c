"""Where the repository's infra templates and the default state dir are."""

from __future__ import annotations

import os
from pathlib import Path

# devstack/src/devstack/paths.py -> repository root (workspace install is editable).
REPO_ROOT = Path(__file__).resolve().parents[3]


def infra_dir() -> Path:
    return Path(os.environ.get("DEVSTACK_INFRA_DIR", REPO_ROOT / "infra"))


def default_state_dir() -> Path:
    return Path(os.environ.get("STACK_DIR", REPO_ROOT / ".stack"))
