"""A tiny MCP server over stdio, built on the official `mcp` SDK, for agent replay tests.

`search` and `lookup` echo their argument; `fetch` raises, so the client sees a tool error;
`crash` ends the server process, as a server dying mid-replay would.
"""

from __future__ import annotations

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server

server = Server("reprise-test-tools")


@server.tool()
def search(arg: str) -> str:
    """Search for ARG."""
    return f"mcp search: {arg}"


@server.tool()
def lookup(arg: str) -> str:
    """Look ARG up."""
    return f"mcp lookup: {arg}"


@server.tool()
def fetch(arg: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot fetch {arg}")


@server.tool()
def crash(arg: str) -> str:
    """Ends the server process without answering."""
    import os

    os._exit(1)


if __name__ == "__main__":
    server.run()
