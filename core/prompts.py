"""Derived prompt ids: edits stay easy when a request was logged without a prompt id.

Most recorded and imported requests carry no prompt id, yet edits target prompt ids. A
request without one gets an id derived from its system prompt when it is stored — the same
system prompt always gives the same id, so one edit reaches every request sharing it — and
the id says where it came from: `sys-` + the prompt's first words + a short hash.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

DERIVED_PREFIX = "sys-"
_WORD = re.compile(r"[a-z0-9]+")


def derived_prompt_id(body: Any, provider: str = "", url: str | None = None) -> str | None:
    """`sys-you-are-a-weather-3f2a1c` for a body whose system prompt starts that way."""
    from core.formats import detect_format

    if not isinstance(body, dict):
        return None
    try:
        fmt = detect_format(body, provider, url)
        system = "\n".join(fmt.system_prompts(body)) if fmt is not None else ""
    except (TypeError, ValueError, AttributeError):
        return None
    system = system.strip()
    if not system:
        return None
    digest = hashlib.sha256(system.encode("utf-8", "replace")).hexdigest()[:6]
    slug = "-".join(_WORD.findall(system.lower())[:4])[:24].strip("-")
    return f"{DERIVED_PREFIX}{slug}-{digest}" if slug else f"{DERIVED_PREFIX}{digest}"


def is_derived(prompt_id: str | None) -> bool:
    return bool(prompt_id) and str(prompt_id).startswith(DERIVED_PREFIX)
