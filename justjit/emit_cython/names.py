"""The one place where user text meets generated source: names, constants and comments.

- `mangle` turns a Python identifier into a Cython/C-safe name that cannot collide with a
  keyword, a Cython or C name, or a name the emitter generates itself (those all start with
  `__jj_` or are `r<k>`).
- `ConstPool` collects every constant object the generated module needs (literals, names,
  code objects). The module receives them as one tuple; the source only ever says "constant
  number k", so no user text is ever spliced into code.
- `comment_text` makes any text safe to put after a `#` (it cannot end the comment).
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

# Prefixes by register kind: a Python local `x` is `v_x`, a cell is `c_x`.
VAR_PREFIX = "v"
CELL_PREFIX = "c"


def mangle(prefix: str, name: str) -> str:
    """`prefix` + "_" + an injective ASCII encoding of `name`.

    ASCII letters and digits stay; "_" becomes "__"; any other character becomes "_<hex>_".
    Decoding is unambiguous (an escape starts with "_" and a hex digit, a literal underscore
    is "__"), so two different names never meet.
    """
    out = [prefix, "_"]
    for ch in name:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch == "_":
            out.append("__")
        else:
            out.append(f"_{ord(ch):x}_")
    return "".join(out)


def comment_text(text: str, limit: int = 160) -> str:
    """`text` made safe and short for a one-line `#` comment.

    Everything that is not a printable character (line and paragraph separators, other
    control and format characters, lone surrogates) becomes a visible escape, so nothing can
    end the comment or confuse a reader's editor.
    """
    out = []
    for ch in text:
        if ch == " " or (ch.isprintable() and unicodedata.category(ch)[0] not in "CZ"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    result = "".join(out).rstrip()
    if len(result) > limit:
        result = result[: limit - 3] + "..."
    return result


def short_repr(value: Any, limit: int = 60) -> str:
    """A comment-safe, short repr of a constant (for readers of the .pyx only)."""
    if hasattr(value, "co_code"):
        text = f"<code {getattr(value, 'co_qualname', value.co_name)}>"
    else:
        try:
            text = repr(value)
        except Exception:  # a repr that fails must not break compilation
            text = f"<{type(value).__name__}>"
    return comment_text(text, limit)


class ConstPool:
    """The constants of one generated module, in the order they are first asked for.

    Strings used as names (globals, attributes, keyword names) are interned and shared by
    value; every other object is shared by identity only, so `x is CONST` keeps CPython's
    answer and equal-but-different constants (1, 1.0, True) never merge.
    """

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._by_name: dict[str, int] = {}
        self._by_id: dict[int, int] = {}
        self._by_tuple: dict[tuple, int] = {}

    def name(self, text: str) -> int:
        """Index of the interned string `text`."""
        if type(text) is not str:
            raise TypeError(f"a name must be a str, not {type(text).__name__}")
        index = self._by_name.get(text)
        if index is None:
            index = self._add(sys.intern(text))
            self._by_name[text] = index
        return index

    def names(self, texts: tuple) -> int:
        """Index of a tuple of interned strings (keyword names of a call), shared by value."""
        key = ("\0tuple",) + tuple(texts)
        index = self._by_tuple.get(key)
        if index is None:
            for text in texts:
                if type(text) is not str:
                    raise TypeError(f"a name must be a str, not {type(text).__name__}")
            index = self._add(tuple(sys.intern(t) for t in texts))
            self._by_tuple[key] = index
        return index

    def obj(self, value: Any) -> int:
        """Index of the object `value` itself."""
        index = self._by_id.get(id(value))
        if index is None:
            index = self._add(value)
            self._by_id[id(value)] = index
        return index

    def _add(self, value: Any) -> int:
        self.values.append(value)
        return len(self.values) - 1

    def as_tuple(self) -> tuple:
        return tuple(self.values)
