"""User configuration: `config.toml` in the platform config directory.

Read with stdlib `tomllib`, validated by a small pydantic model. Only names of environment
variables are ever stored here, never API keys.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError


class ReplayDefaults(BaseModel):
    target: str = "auto"  # auto | local | ollama | base_url | original
    base_url: str | None = None  # an OpenAI-compatible endpoint
    api_key_env: str | None = None  # name of the env var holding its key
    model: str | None = None
    concurrency: int = 8


class HeliconeDefaults(BaseModel):
    """The Helicone source of the sessions screen; the key is read from HELICONE_API_KEY."""

    base_url: str | None = None  # a self-hosted Helicone API (overrides the region)
    region: str | None = None  # us | eu (default: from the key)
    since: str = "7d"  # how far back the session list goes


class Config(BaseModel):
    theme: str | None = None
    keymap: dict[str, str] = Field(default_factory=dict)  # binding id -> "key1,key2"
    replay: ReplayDefaults = Field(default_factory=ReplayDefaults)
    helicone: HeliconeDefaults = Field(default_factory=HeliconeDefaults)


def config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("reprise", appauthor=False) / "config.toml"


def load_config(path: Path | None = None) -> tuple[Config, str | None]:
    """The config and, when the file is broken, a message saying why (defaults are used)."""
    path = path or config_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(), None
    except OSError as exc:
        return Config(), f"cannot read {path}: {exc}"
    try:
        return Config.model_validate(tomllib.loads(raw)), None
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        return Config(), f"{path}: {first}; using defaults"
