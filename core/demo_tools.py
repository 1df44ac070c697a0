"""The tools of the demo's trip-planner agent, so every tool rule can be tried on it.

`reprise demo-tool` reads one call as JSON on stdin (`{"name", "arguments", "id"}`, what the
`exec:` rule sends) and prints the result; `reprise demo-tool --mcp` serves the same tools as
an MCP server over stdio (for the `mcp:` rule; needs the `[mcp]` extra). Answers are made up
but deterministic, so a replay shows the same result for the same call.
"""

from __future__ import annotations

import importlib
import json
import sys
import zlib
from collections.abc import Callable
from typing import Any

CITIES = {
    "lisbon": ("Lisbon", 21, "sunny"),
    "porto": ("Porto", 18, "light rain"),
    "berlin": ("Berlin", 9, "overcast"),
    "madrid": ("Madrid", 24, "clear"),
    "paris": ("Paris", 13, "showers"),
}
RATES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.85, "CHF": 0.95}


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def get_weather(city: str, date: str = "") -> str:
    key = city.strip().lower()
    name, temp, sky = CITIES.get(key, (city.strip().title(), 10 + _seed(key) % 15, "cloudy"))
    return f"{name}{' on ' + date if date else ''}: {sky}, {temp} °C"


def search_flights(origin: str, destination: str, date: str = "") -> str:
    seed = _seed(origin.lower(), destination.lower(), date)
    flights = []
    for n in range(3):
        hour = 6 + (seed >> (n * 3)) % 14
        price = 60 + (seed >> (n * 5)) % 180
        flights.append(f"{origin.title()}→{destination.title()} {hour:02d}:15, {price} EUR")
    return "\n".join(flights)


def convert_currency(amount: float, source: str = "EUR", target: str = "USD") -> str:
    try:
        value = float(amount) / RATES[source.upper()] * RATES[target.upper()]
    except (KeyError, ValueError, ZeroDivisionError):
        raise ValueError(f"cannot convert {amount} {source} to {target}") from None
    return f"{float(amount):.2f} {source.upper()} = {value:.2f} {target.upper()}"


TOOLS: dict[str, Callable[..., str]] = {
    "get_weather": get_weather,
    "search_flights": search_flights,
    "convert_currency": convert_currency,
}


def answer(call: dict[str, Any]) -> str:
    """The result of one call; raises ValueError for an unknown tool or bad arguments."""
    name = call.get("name")
    arguments = call.get("arguments") or {}
    if isinstance(arguments, str):
        arguments = json.loads(arguments or "{}")
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; this command serves {', '.join(TOOLS)}")
    if not isinstance(arguments, dict):
        raise ValueError("arguments must be a JSON object")
    try:
        return TOOLS[name](**arguments)
    except TypeError as exc:
        raise ValueError(f"bad arguments for {name}: {exc}") from None


def run_exec() -> int:
    """One call on stdin, the result on stdout; errors on stderr with exit status 1."""
    try:
        call = json.loads(sys.stdin.read() or "{}")
        if not isinstance(call, dict):
            raise ValueError("expected a JSON object on stdin")
        sys.stdout.write(answer(call))
    except ValueError as exc:
        sys.stderr.write(f"demo-tool: {exc}\n")
        return 1
    return 0


def _mcp_server_class() -> Any | None:
    """The MCP SDK's high-level server class: ``MCPServer`` in newer releases, ``FastMCP``
    before; None without the SDK."""
    for module, name in (("mcp.server.mcpserver", "MCPServer"), ("mcp.server.fastmcp", "FastMCP")):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    return None


def run_mcp() -> int:
    """The same tools as an MCP server over stdio."""
    server_class = _mcp_server_class()
    if server_class is None:
        sys.stderr.write("demo-tool --mcp needs the MCP SDK: pip install 'reprise-tui[mcp]'\n")
        return 1
    server = server_class("reprise-demo-tools")
    for function in TOOLS.values():
        server.tool()(function)
    server.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return run_mcp() if "--mcp" in args else run_exec()


if __name__ == "__main__":
    raise SystemExit(main())
