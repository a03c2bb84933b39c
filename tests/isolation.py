"""What tests of settings, the cache and child processes share: a test starts from no
JUSTJIT_* setting (the suite's own, such as conftest's JUSTJIT_TIERED, included), and a child
process gets the test's cache and can import justjit and the test's own modules."""

from __future__ import annotations

import os
from pathlib import Path

from justjit import config as jconfig

REPO = Path(__file__).resolve().parents[1]


def clear_settings(monkeypatch, cache_dir: Path | None = None) -> None:
    """No JUSTJIT_* environment variable (but JUSTJIT_CACHE_DIR=`cache_dir` if given), and
    the configuration read afresh."""
    for name in list(os.environ):
        if name.startswith("JUSTJIT_"):
            monkeypatch.delenv(name)
    if cache_dir is not None:
        monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(cache_dir))
    jconfig.reset()


def child_env(root, *paths, **extra) -> dict:
    """The environment of a child process: this one's without JUSTJIT_* settings, the cache
    `root`, `paths` then the repository on PYTHONPATH, and `extra` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUSTJIT_")}
    env.update(JUSTJIT_CACHE_DIR=str(root),
               PYTHONPATH=os.pathsep.join(filter(None, [*map(str, paths), str(REPO),
                                                        os.environ.get("PYTHONPATH")])),
               **extra)
    return env
