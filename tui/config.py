"""User configuration: `config.toml` in the platform config directory.

Read with stdlib `tomllib`, validated by a small pydantic model. Only names of environment
variables are ever stored here, never API keys.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from core.replay.models import ReplayTarget


class ReplayDefaults(BaseModel):
    # A misspelt setting is named, not silently ignored (`concurency = 3`).
    model_config = ConfigDict(extra="forbid")

    target: Literal["auto", "local", "ollama", "base_url", "original", "helicone"] = "auto"
    base_url: str | None = None  # an OpenAI-compatible endpoint
    api_key_env: str | None = None  # name of the env var holding its key
    model: str | None = None
    concurrency: int = 8
    # Agent replay tool rules from the replay form (`[replay.tools]`): `default` is the rule
    # for every tool, any other key a tool name.
    tools: dict[str, str] = Field(default_factory=dict)


class HeliconeDefaults(BaseModel):
    """The Helicone source of the sessions screen; the key is read from HELICONE_API_KEY."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None  # a self-hosted Helicone API (overrides the region)
    region: str | None = None  # us | eu (default: from the key)
    since: str = "7d"  # how far back the session list goes


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str | None = None
    keymap: dict[str, str] = Field(default_factory=dict)  # binding id -> "key1,key2"
    replay: ReplayDefaults = Field(default_factory=ReplayDefaults)
    helicone: HeliconeDefaults = Field(default_factory=HeliconeDefaults)

    def key_bindings(self) -> dict[str, str]:
        """Base URL -> key variable, as this person's config names them."""
        replay = self.replay
        if replay.base_url and replay.api_key_env:
            return {replay.base_url: replay.api_key_env}
        return {}

    def resume_target(self, stored: ReplayTarget, what: str) -> ReplayTarget:
        """A stored target as this config names it; TargetRefused when the config does not
        name it (the app then asks the person to confirm)."""
        from core.replay.transport import resume_target

        base = (self.replay.base_url or "").rstrip("/")
        if base and stored.via.rstrip("/") == base:
            return resume_target(stored, via=stored.via, api_key_env=self.replay.api_key_env,
                                 what=what)
        return resume_target(stored, what=what)


def config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("reprise", appauthor=False) / "config.toml"


def load_config(path: Path | None = None) -> tuple[Config, str | None]:
    """The config and, when the file is broken, one message naming what to fix (what is
    unreadable falls back to defaults, invalid fields alone are dropped)."""
    path = path or config_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(), None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return Config(), (f"{path} line {line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x});"
                          " save the file as UTF-8. Using the default settings.")
    except OSError as exc:
        return Config(), f"cannot read {path}: {exc.strerror or exc}. Using the default settings."
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        return Config(), f"{path}: {exc}; fix the TOML syntax. Using the default settings."
    config, problems = validate_keeping_valid(data)
    if not problems:
        return config, None
    return config, (f"{path}: {'; '.join(problems)}. Ignored these settings; the rest of the"
                    " file is used.")


MAX_ROUNDS = 20  # each round drops at least one field, so a file ends valid well before this


def validate_keeping_valid(data: dict[str, Any]) -> tuple[Config, list[str]]:
    """The config with every invalid or unknown field dropped, and one note per dropped field:
    one misspelt key must not cost the person their theme and keymap."""
    problems: list[str] = []
    for _ in range(MAX_ROUNDS):
        try:
            return Config.model_validate(data), problems
        except ValidationError as exc:
            problems += describe_errors(exc, limit=None).split("; ")
            if not any(_drop(data, error.get("loc", ())) for error in exc.errors()):
                break
    return Config(), [*problems, "could not keep any setting"]


def _drop(data: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    """Remove the field at `loc` (or the nearest table holding it); False when none is there."""
    node: Any = data
    for part in loc[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            break
        node = child
    else:
        if loc and isinstance(node, dict) and loc[-1] in node:
            del node[loc[-1]]
            return True
        return False
    # A table that is not a table (`replay = 3`): drop it whole.
    if isinstance(node, dict) and part in node:
        del node[part]
        return True
    return False


def describe_errors(exc: ValidationError, limit: int | None = 3) -> str:
    """`[replay] concurrency = "many": must be a whole number` for each invalid field."""
    parts = []
    for error in exc.errors()[:limit]:
        loc = [str(part) for part in error.get("loc", ())]
        table = f"[{'.'.join(loc[:-1])}] " if len(loc) > 1 else ""
        field = loc[-1] if loc else "?"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown setting (remove it or check its spelling)"
        value = error.get("input")
        shown = f" = {value!r}" if isinstance(value, str | int | float | bool) else ""
        parts.append(f"{table}{field}{shown}: {message}")
    more = len(exc.errors()) - limit if limit is not None else 0
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def save_replay_tools(rules: dict[str, str], path: Path | None = None) -> str | None:
    """Write `[replay.tools]` into config.toml, keeping the rest of the file as it is.

    Returns a message when the file cannot be written (the replay goes on regardless).
    """
    import json
    import re

    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        return f"cannot read {path}: {exc}"
    # Drop the old table: its header up to the next table header.
    text = re.sub(r"(?ms)^\[replay\.tools\][^\n]*\n.*?(?=^\[|\Z)", "", text).rstrip()
    lines = ["[replay.tools]"] + [
        f"{json.dumps(name)} = {json.dumps(rule)}" for name, rule in sorted(rules.items())
    ]
    text = (text + "\n\n" if text else "") + "\n".join(lines) + "\n"
    try:
        tomllib.loads(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return f"cannot save the tool rules to {path}: {exc}"
    return None
