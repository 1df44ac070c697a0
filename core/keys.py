"""API keys: read from the person's environment, validated, and scrubbed from every message.

Keys come only from environment variables the running user controls (never from a store or
an imported file). A key is checked before it is used: a control character (the trailing
`\\r` that `export K=$(cat key.txt)` picks up from a CRLF file) or a non-ASCII character
makes it unusable, and the error says so without echoing it. `redact` is the one function
every error path uses before a message reaches the store, the screen or a log; it also
catches the forms a key takes inside error texts (bytes repr, backslash escapes, JSON and
percent encoding, a prefix cut off by truncation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

# Variables whose values are always treated as secrets, wherever they show up.
KEY_VARIABLES = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HELICONE_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "AZURE_OPENAI_API_KEY",
)
MASK = "***"
_MIN_SECRET = 6  # shorter values are not worth scrubbing (and would hit ordinary words)
_MIN_PARTIAL = 10  # a cut-off prefix this long (or the whole key) still counts as the key
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class KeyInvalid(ValueError):
    """A key variable holds a value that cannot be sent; the message never contains it."""


def key_problem(value: str) -> str | None:
    """Why `value` cannot be used as a key, in words that do not repeat it; None when fine."""
    if not value:
        return "is empty"
    if value != value.strip():
        ends = "ends" if value[-1:].isspace() else "starts"
        what = "a line break" if _CONTROL.search(value) else "a space"
        return f"{ends} with {what} (was it read from a file with Windows line endings?)"
    if _CONTROL.search(value):
        return "contains a control character"
    if not value.isascii():
        return "contains a non-ASCII character"
    return None


def read_key(env: Mapping[str, str], name: str) -> str | None:
    """The key in `$name`, None when unset or empty, KeyInvalid when it cannot be sent."""
    value = env.get(name)
    if value is None or value == "":
        return None
    problem = key_problem(value)
    if problem is not None:
        raise KeyInvalid(f"${name} {problem}; fix the variable and try again")
    return value


def env_secrets(env: Mapping[str, str], names: Iterable[str | None] = ()) -> list[str]:
    """The values of the well-known key variables and of `names`, as set in `env`."""
    values = []
    for name in (*KEY_VARIABLES, *names):
        if name and env.get(name):
            values.append(env[name])
    return values


def _forms(secret: str) -> set[str]:
    """The ways a secret can be spelled inside an error message or a dumped body."""
    core = secret.strip()
    forms = {secret, core}
    for text in (secret, core):
        forms.add(repr(text)[1:-1])  # '\r' -> '\\r'
        forms.add(repr(text.encode("utf-8", "backslashreplace"))[2:-1])  # b'...' repr
        forms.add(json.dumps(text)[1:-1])
        forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
        forms.add(quote(text, safe=""))
        forms.add(quote(text))
    return {f for f in forms if len(f) >= _MIN_SECRET}


class Redactor:
    """Scrubs a fixed set of secrets (and their escaped or truncated forms) from values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if s]
        forms: set[str] = set()
        for secret in self.secrets:
            if secret and len(secret.strip()) >= _MIN_SECRET:
                forms |= _forms(secret)
        self.forms = sorted(forms, key=len, reverse=True)
        # A message cut in the middle of a key still holds its first characters.
        self._prefixes = sorted(
            {f[: max(_MIN_PARTIAL, 1)] for f in self.forms if len(f) >= _MIN_PARTIAL},
            key=len,
            reverse=True,
        )

    def __bool__(self) -> bool:
        return bool(self.forms)

    def text(self, value: str) -> str:
        for form in self.forms:
            if form in value:
                value = value.replace(form, MASK)
        for prefix in self._prefixes:
            if prefix in value:
                value = self._cut(value, prefix)
        return value

    def _cut(self, value: str, prefix: str) -> str:
        """Mask every occurrence of `prefix` and the characters after it that match a form."""
        out: list[str] = []
        start = 0
        while (at := value.find(prefix, start)) != -1:
            end = at + len(prefix)
            best = end
            for form in self.forms:
                if form.startswith(prefix):
                    n = end
                    while n < len(value) and n - at < len(form) and value[n] == form[n - at]:
                        n += 1
                    best = max(best, n)
            out.append(value[start:at] + MASK)
            start = best
        out.append(value[start:])
        return "".join(out)

    def __call__(self, value: Any) -> Any:
        if not self.forms:
            return value
        if isinstance(value, dict | list | tuple):
            # A body with no key in it is returned as it is, however deep it nests (walking a
            # 400-level answer would exceed the recursion limit and lose a paid result).
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (RecursionError, ValueError):
                text = None
            if text is not None and self.text(text) == text:
                return value
            try:
                return self._walk(value)
            except RecursionError:  # too deep to walk and holding a key: its redacted text
                return self.text(text) if text is not None else "(too deeply nested to show)"
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


def redact(value: Any, secrets: Iterable[str] | None = None, *,
           env: Mapping[str, str] | None = None) -> Any:
    """`value` (a string, bytes or JSON value) with every secret masked as `***`.

    `secrets` defaults to the keys set in `env` (or the process environment): the safe
    choice for an error message whose origin is not known precisely.
    """
    if secrets is None:
        import os

        secrets = env_secrets(os.environ if env is None else env)
    return Redactor(secrets)(value)
