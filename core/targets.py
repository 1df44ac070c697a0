"""Where a replay or a matrix can be sent, as the forms offer it, and what the forms hand back.

Targets known without a network probe, best first: the local model when installed, the
configured OpenAI-compatible endpoint, the original providers (keys from the environment) and
the Helicone proxy when a Helicone key is set. Ollama on loopback is added by a probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.replay.environment import ToolSettings

TargetKey = Literal["local", "base_url", "ollama", "original", "helicone"]
LOCAL_CONCURRENCY = 1  # the local model server answers one request at a time
LOCAL_LABEL = "local SmolLM2 model (loopback, no key)"


class TargetOption(BaseModel):
    """One place requests can go, with the words the forms show for it."""

    model_config = ConfigDict(frozen=True)

    key: TargetKey
    via: str  # "local", "original", "helicone" or an endpoint URL
    label: str
    local: bool = False
    api_key_env: str | None = None  # the *name* of the variable holding the key
    allow_hosts: tuple[str, ...] = ()

    @property
    def free(self) -> bool:
        """Costs nothing per token (the local model, an own endpoint, Ollama)."""
        return self.key in ("local", "base_url", "ollama")

    def copy_text(self) -> str:
        return self.label if self.via == "local" else self.via


@cache
def local_available() -> bool:
    """The local model is installed (runtime and model file). Checked once: importing the
    runtime's module is slow, so the app warms this in a worker before a form asks."""
    try:
        from core.local_model import local_runtime_available

        return local_runtime_available()
    except Exception:  # an unusable local install only removes the option
        return False


def base_targets(*, base_url: str | None, api_key_env: str | None,
                 environ: Mapping[str, str], local_available: bool) -> list[TargetOption]:
    """Targets known without network probes, best first."""
    targets: list[TargetOption] = []
    if local_available:
        targets.append(TargetOption(key="local", via="local", local=True, label=LOCAL_LABEL))
    if base_url:
        key = f", key from ${api_key_env}" if api_key_env else ""
        targets.append(TargetOption(key="base_url", via=base_url, api_key_env=api_key_env,
                                    label=f"{base_url}{key}"))
    keys = [k for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY") if environ.get(k)]
    have = " + ".join(f"${k}" for k in keys) if keys else "no API key set"
    targets.append(TargetOption(key="original", via="original",
                                label=f"original providers ({have})"))
    if environ.get("HELICONE_API_KEY"):
        targets.append(TargetOption(key="helicone", via="helicone",
                                    label="Helicone proxy (logged as a new session)"))
    return targets


def ollama_target(url: str) -> TargetOption:
    return TargetOption(key="ollama", via=url, label=f"Ollama at {url}")


def default_target(targets: list[TargetOption], wanted: str) -> TargetOption:
    """The configured target when offered, else the best one."""
    return next((t for t in targets if t.key == wanted), targets[0])


def default_concurrency(target: TargetOption, configured: int) -> int:
    """What the target serves at once: more requests to the local model would only queue
    (and their queueing would count as latency)."""
    return LOCAL_CONCURRENCY if target.local else configured


class ReplaySettings(BaseModel):
    """What the replay form hands back: where to, how, and the tool rules of an agent."""

    target: TargetOption
    mode: Literal["chained", "isolated"] = "chained"
    concurrency: int = Field(8, ge=1, le=64)
    model: str | None = None
    tools: ToolSettings | None = None
