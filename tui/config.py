"""User configuration: `config.toml` in the platform config directory.

Read with stdlib `tomllib`, validated by a small pydantic model. Only names of environment
variables are ever stored here, never API keys.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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
    """The config and, when the file is broken, one message naming what to fix (defaults used)."""
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
    try:
        return Config.model_validate(data), None
    except ValidationError as exc:
        return Config(), f"{path}: {describe_errors(exc)}. Using the default settings."


def describe_errors(exc: ValidationError) -> str:
    """`[replay] concurrency = "many": must be a whole number` for each invalid field."""
    parts = []
    for error in exc.errors()[:3]:
        loc = [str(part) for part in error.get("loc", ())]
        table = f"[{'.'.join(loc[:-1])}] " if len(loc) > 1 else ""
        field = loc[-1] if loc else "?"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown setting (remove it or check its spelling)"
        value = error.get("input")
        shown = f" = {value!r}" if isinstance(value, str | int | float | bool) else ""
        parts.append(f"{table}{field}{shown}: {message}")
    more = len(exc.errors()) - 3
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
