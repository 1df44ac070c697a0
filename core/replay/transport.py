"""Where a replayed request goes and which credentials may travel with it.

Pure functions, unit-tested on their own. The rule that matters: a key is only ever attached
to the hosts it belongs to. The OpenAI key goes to OpenAI and Helicone's OpenAI proxy, the
Anthropic key to Anthropic and Helicone's Anthropic proxy, the Helicone key only to
`*.helicone.ai`, the Google key (`GEMINI_API_KEY`/`GOOGLE_API_KEY`, as `x-goog-api-key`)
only to Google's Gemini and Vertex hosts, the Azure key (`AZURE_OPENAI_API_KEY`, as
`api-key`) only to the Azure host the user named (`AZURE_OPENAI_ENDPOINT` or
`--allow-host`), a custom key only to the custom base URL it was named for. A recorded URL
that points anywhere else (an imported file can say anything) is refused unless the user
allowed that host explicitly, and even then it receives no provider key. No key travels over
plain HTTP except to this machine (loopback). A stored replay's target is data too: resuming
one re-derives the target and its key from the person resuming (`resume_target`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from core.keys import KeyInvalid, read_key, redact
from core.models import LoggedRequest
from core.replay.models import ReplaySpec, ReplayTarget

OPENAI_HOSTS = frozenset({"api.openai.com", "oai.helicone.ai", "oai.hconeai.com"})
ANTHROPIC_HOSTS = frozenset({"api.anthropic.com", "anthropic.helicone.ai"})
GOOGLE_HOSTS = frozenset({"generativelanguage.googleapis.com", "aiplatform.googleapis.com"})
AZURE_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com")
HELICONE_PROXIES = {
    "openai": "https://oai.helicone.ai",
    "responses": "https://oai.helicone.ai",
    "anthropic": "https://anthropic.helicone.ai",
}
DEFAULT_BASES = {
    "openai": "https://api.openai.com",
    "responses": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
DEFAULT_PATHS = {
    "openai": "/v1/chat/completions",
    "responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/{model}:generateContent",
}
ANTHROPIC_VERSION = "2023-06-01"
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "helicone-auth", "api-key", "x-goog-api-key"}
)
BUILTIN_VIAS = ("original", "helicone", "local")
__all__ = ["redact"]  # the one redaction, re-exported for the engine's callers


class TargetRefused(ValueError):
    """The request cannot be sent where it would go; the message says why, and `problem`
    says only what is wrong, for a place that gives its own advice (the matrix plan)."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message


def hostname(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_helicone_host(host: str) -> bool:
    return host == "helicone.ai" or host.endswith(".helicone.ai") or host == "oai.hconeai.com"


def is_loopback(host: str) -> bool:
    """This machine: `localhost`, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_carry_key(url: str) -> bool:
    """Keys travel over https, or over plain http only to this machine."""
    scheme, host, _ = origin(url)
    return scheme == "https" or (scheme == "http" and is_loopback(host))


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def is_google_host(host: str) -> bool:
    """Gemini on Google AI, and Vertex AI (global or `REGION-aiplatform.googleapis.com`)."""
    return host in GOOGLE_HOSTS or host.endswith("-aiplatform.googleapis.com")


def is_azure_host(host: str) -> bool:
    return host.endswith(AZURE_SUFFIXES)


def azure_named(url: str, env: Mapping[str, str], allow_hosts: list[str]) -> bool:
    """An Azure host the user named: in `AZURE_OPENAI_ENDPOINT` or with `--allow-host`.

    A recorded Azure URL alone never earns the key: an imported row can name any host.
    """
    scheme, host, _ = origin(url)
    if scheme != "https" or not is_azure_host(host):
        return False
    endpoint = env.get("AZURE_OPENAI_ENDPOINT") or ""
    return (bool(endpoint) and hostname(endpoint) == host) or host_allowed(url, allow_hosts)


def host_allowed(url: str, allow_hosts: list[str]) -> bool:
    """A host the user named: `host` matches any port, `host:port` only that port."""
    _, host, port = origin(url)
    for entry in allow_hosts:
        entry = entry.strip().lower()
        if "://" in entry:
            entry = urlsplit(entry).netloc
        if entry == host or entry == f"{host}:{port}":
            return True
    return False


def credentials_for(
    url: str,
    env: Mapping[str, str],
    *,
    custom_base: str | None = None,
    custom_key_env: str | None = None,
    allow_hosts: list[str] | None = None,
) -> dict[str, str]:
    """The auth headers that may be sent to `url`, and only those.

    `custom_key_env` must come from the person running the command (a flag, the app's form
    or its confirmation), never from a stored spec. Raises TargetRefused when that key would
    travel in clear text, KeyInvalid when a key variable holds an unusable value.
    """
    headers: dict[str, str] = {}
    scheme, host, _ = origin(url)
    if custom_base and custom_key_env and origin(custom_base) == origin(url):
        if not may_carry_key(url):
            raise TargetRefused(
                f"${custom_key_env} would be sent in clear text to {host}; use an https:// URL"
                " (plain http carries keys only to this machine)"
            )
        key = read_key(env, custom_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers
    # Without a named variable a base URL gets what its host is owed: `--via
    # https://api.openai.com/v1` still carries the OpenAI key, and nothing else does.
    if scheme != "https":
        return headers  # provider keys never travel in clear text
    if host in OPENAI_HOSTS and (key := read_key(env, "OPENAI_API_KEY")):
        headers["Authorization"] = f"Bearer {key}"
    if host in ANTHROPIC_HOSTS and (key := read_key(env, "ANTHROPIC_API_KEY")):
        headers["x-api-key"] = key
    if is_helicone_host(host) and (key := read_key(env, "HELICONE_API_KEY")):
        headers["Helicone-Auth"] = f"Bearer {key}"
    if is_google_host(host):
        google_key = read_key(env, "GEMINI_API_KEY") or read_key(env, "GOOGLE_API_KEY")
        if google_key:
            headers["x-goog-api-key"] = google_key
    if azure_named(url, env, allow_hosts or []) and (
        key := read_key(env, "AZURE_OPENAI_API_KEY")
    ):
        headers["api-key"] = key
    return headers


def check_target(target: ReplayTarget, env: Mapping[str, str]) -> None:
    """Refuse, before anything is sent, a base URL whose named key could not travel safely:
    clear text to another machine (TargetRefused) or an unusable value (KeyInvalid)."""
    if target.via in BUILTIN_VIAS:
        return
    if not target.via.lower().startswith(("http://", "https://")):
        raise TargetRefused(
            f"--via must be original, helicone, local or a base URL, not {target.via!r}"
        )
    if target.api_key_env:
        credentials_for(join_base(target.via, "openai"), env, custom_base=target.via,
                        custom_key_env=target.api_key_env)


def key_variables_for(url: str, env: Mapping[str, str], allow_hosts: list[str]) -> list[str]:
    """The key variables `url` needs (any one of them will do): none for hosts without a
    known key (loopback, plain HTTP, or a host reached through `--allow-host`)."""
    scheme, host, _ = origin(url)
    if scheme != "https":
        return []
    if host in OPENAI_HOSTS:
        names = ["OPENAI_API_KEY"]
    elif host in ANTHROPIC_HOSTS:
        names = ["ANTHROPIC_API_KEY"]
    elif is_google_host(host):
        return ["GEMINI_API_KEY", "GOOGLE_API_KEY"]
    elif azure_named(url, env, allow_hosts):
        return ["AZURE_OPENAI_API_KEY"]
    else:
        names = []
    if is_helicone_host(host):
        names.append("HELICONE_API_KEY")
    return names


def check_keys(urls: list[str], env: Mapping[str, str], allow_hosts: list[str]) -> None:
    """Refuse, before anything is sent, a replay whose requests go to providers without their
    key: each missing or unusable variable is named with the hosts that need it.

    Only the value's problem is named, never the value (core.keys.read_key).
    """
    missing: dict[str, list[str]] = {}
    invalid: dict[str, str] = {}
    for url in urls:
        host = hostname(url)
        for group in _key_groups(key_variables_for(url, env, allow_hosts)):
            usable = False
            for name in group:
                try:
                    usable = usable or bool(read_key(env, name))
                except KeyInvalid as exc:
                    invalid[name] = str(exc)
            if not usable and not any(name in invalid for name in group):
                hosts = missing.setdefault(" or ".join(f"${n}" for n in group), [])
                if host not in hosts:
                    hosts.append(host)
    if not missing and not invalid:
        return
    parts = [f"{names} is not set (needed by {', '.join(hosts)})"
             for names, hosts in missing.items()]
    parts += [message.removesuffix("; fix the variable and try again")
              for message in invalid.values()]
    raise TargetRefused(
        "nothing was sent: " + "; ".join(parts) + ". Set the variable, or replay elsewhere"
        " with --via local or --via <base URL>",
        problem="; ".join(parts),
    )


def _key_groups(names: list[str]) -> list[tuple[str, ...]]:
    """Alternatives stay together (either Google variable will do); others are each needed."""
    if names == ["GEMINI_API_KEY", "GOOGLE_API_KEY"]:
        return [tuple(names)]
    return [(name,) for name in names]


def describe_target(target: ReplayTarget) -> str:
    if target.via == "original":
        hosts = ", ".join(target.allow_hosts)
        return "the recorded URLs" + (f" (allowing {hosts})" if hosts else "")
    where = {"helicone": "Helicone's proxy", "local": "the local model"}.get(
        target.via, target.via
    )
    return where + (f" with the key in ${target.api_key_env}" if target.api_key_env else "")


def resume_target(
    stored: ReplayTarget,
    *,
    via: str | None = None,
    api_key_env: str | None = None,
    allow_hosts: list[str] | tuple[str, ...] = (),
    what: str = "this replay",
) -> ReplayTarget:
    """The target a resumed run uses: what the person resuming names, never the stored one.

    A stored target that is not built in (a base URL, a key variable, allowed hosts) must be
    named again; otherwise TargetRefused says which flags to pass.
    """
    run_via = via if via is not None else stored.via
    missing: list[str] = []
    if via is None and stored.via not in BUILTIN_VIAS:
        missing.append(f"--via {stored.via}")
    if stored.api_key_env and api_key_env is None and run_via == stored.via:
        missing.append(f"--api-key-env {stored.api_key_env}")
    if run_via == "original":
        given = list(allow_hosts)
        missing += [
            f"--allow-host {h}"
            for h in stored.allow_hosts
            if not any(h.strip().lower() == g.strip().lower() for g in given)
        ]
    if missing:
        raise TargetRefused(
            f"{what} was sent to {describe_target(stored)}; a resumed run sends requests and"
            f" keys only where you say: pass {' '.join(missing)} to resume it there"
        )
    return ReplayTarget(via=run_via, api_key_env=api_key_env, allow_hosts=list(allow_hosts))


def recorded_url(request: LoggedRequest, format_name: str) -> str:
    """The URL the request was originally sent to, with its path."""
    default_path = DEFAULT_PATHS.get(format_name, DEFAULT_PATHS["openai"]).replace(
        "{model}", request.model
    )
    for candidate in (request.request_url, request.target_url):
        if candidate and candidate.lower().startswith(("http://", "https://")):
            parts = urlsplit(candidate)
            if parts.path in ("", "/"):
                return candidate.rstrip("/") + default_path
            return candidate
    base = DEFAULT_BASES.get(format_name, DEFAULT_BASES["openai"])
    recorded = request.request_url or ""
    return base + (recorded if recorded.startswith("/") else default_path)


def join_base(base: str, format_name: str) -> str:
    """`http://host:11434` or `http://host:11434/v1` plus the format's endpoint."""
    base = base.rstrip("/")
    tail = {"anthropic": "/messages", "responses": "/responses"}.get(
        format_name, "/chat/completions"
    )
    return base + tail if base.endswith("/v1") else base + "/v1" + tail


def target_url(
    request: LoggedRequest,
    format_name: str,
    spec: ReplaySpec,
    env: Mapping[str, str] | None = None,
) -> str:
    """Where to send this request under the spec, or TargetRefused."""
    if spec.via == "original":
        url = recorded_url(request, format_name)
        scheme, host, _ = origin(url)
        if scheme not in ("http", "https") or not host:
            raise TargetRefused(f"recorded URL {url!r} is not an http(s) URL")
        known = (
            host in OPENAI_HOSTS or host in ANTHROPIC_HOSTS or is_helicone_host(host)
            or is_google_host(host)
        )
        named_azure = is_azure_host(host) and azure_named(url, env or {}, spec.allow_hosts)
        known = known or named_azure
        if is_azure_host(host) and not named_azure:
            raise TargetRefused(
                f"recorded URL points to the Azure OpenAI resource {host!r}; name it to send"
                f" there (--allow-host {host}, or AZURE_OPENAI_ENDPOINT=https://{host} for"
                " its key)"
            )
        if not (known and scheme == "https") and not host_allowed(url, spec.allow_hosts):
            raise TargetRefused(
                f"recorded URL points to {host!r}, which is not a known provider;"
                f" pass --allow-host {host} to send it there anyway"
            )
        return url
    if spec.via == "helicone":
        if format_name not in HELICONE_PROXIES:
            raise TargetRefused(
                f"{format_name} requests cannot go through Helicone's proxy; replay them with"
                " --via original or an OpenAI-compatible --via"
            )
        return HELICONE_PROXIES[format_name] + DEFAULT_PATHS[format_name]
    if not spec.via.lower().startswith(("http://", "https://")):
        raise TargetRefused(
            f"--via must be original, helicone, local or a base URL, not {spec.via!r}"
        )
    return join_base(spec.via, format_name)


def request_headers(
    request: LoggedRequest,
    format_name: str,
    url: str,
    spec: ReplaySpec,
    env: Mapping[str, str],
    *,
    replay_id: str,
) -> dict[str, str]:
    """All headers for one send: content type, credentials for `url`, Helicone session headers."""
    custom = spec.via if spec.via not in ("original", "helicone") else None
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if format_name == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
    headers.update(
        credentials_for(
            url, env, custom_base=custom, custom_key_env=spec.api_key_env,
            allow_hosts=spec.allow_hosts,
        )
    )
    if is_helicone_host(hostname(url)):
        headers.update(helicone_session_headers(request, replay_id=replay_id))
    return headers


def helicone_session_headers(request: LoggedRequest, *, replay_id: str) -> dict[str, str]:
    """Log the replay as a new Helicone session that mirrors the original's tree."""
    headers = {
        "Helicone-Session-Id": replay_id,
        "Helicone-Session-Path": request.session_path or "/",
        "Helicone-Property-Replay-Of": request.session_id or "",
    }
    if request.session_name:
        headers["Helicone-Session-Name"] = request.session_name
    from core.prompts import is_derived

    if request.prompt_id and not is_derived(request.prompt_id):  # derived ids stay local
        headers["Helicone-Prompt-Id"] = request.prompt_id
    return {k: _ascii(v) for k, v in headers.items()}


def secrets_in(headers: Mapping[str, str]) -> list[str]:
    """The secret values carried by a header set (bare keys and their `Bearer` forms)."""
    found: list[str] = []
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and value:
            found.append(value)
            if value.lower().startswith("bearer "):
                found.append(value[7:])
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _ascii(value: str) -> str:
    return value.encode("ascii", "backslashreplace").decode("ascii")
