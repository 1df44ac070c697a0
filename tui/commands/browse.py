"""`reprise sessions`, `reprise tree`, `reprise show`: read the store from the shell."""

from __future__ import annotations

from datetime import datetime

import click

from core.parsing import format_time
from core.text import dumps_json, literal
from tui.commands.common import open_store, print_json, resolve_request, resolve_session


@click.command()
@click.option("--search", default=None, help="Only sessions whose name, id, path or model match.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N sessions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see the README for the shape).")
@click.pass_context
def sessions(ctx: click.Context, search: str | None, limit: int | None, as_json: bool) -> None:
    """List sessions, newest first."""
    with open_store(ctx) as store:
        found = store.list_sessions(search, limit=limit)
    if as_json:
        print_json(
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "requests": s.requests,
                    "started_at": format_time(s.started_at),
                    "ended_at": format_time(s.ended_at),
                    "duration_s": round(s.duration_s, 3),
                    "cost": s.cost,
                    "total_tokens": s.total_tokens,
                    "models": s.models,
                    "replays": s.replays,
                    "sessionless": s.sessionless,
                }
                for s in found
            ]
        )
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from tui.widgets.text import duration, money

    table = Table(box=None, header_style="bold")
    for column in ("started", "name", "id", "requests", "duration", "cost", "replays"):
        table.add_column(
            column,
            justify="right" if column in {"requests", "duration", "cost"} else "left",
            no_wrap=column in {"id", "started"},  # ids must stay whole to be copied
        )
    for s in found:
        name = Text(literal(s.name) or "—")  # imported text: never markup, never raw escapes
        if s.sessionless:
            name = Text.assemble(("no session · ", "dim"), name)
        table.add_row(
            s.started_at.strftime("%Y-%m-%d %H:%M"),
            name,
            Text(literal(s.id)),
            str(s.requests),
            duration(s.duration_s),
            money(s.cost),  # as the app shows it: $0.000008, not $0.0000
            str(s.replays),
        )
    console = Console()
    console.width = max(console.width, 130)  # wide enough to keep every column readable
    if not found:
        console.print(f"No session matches {literal(search)!r}." if search else
                      "No sessions. Import an export with `reprise import FILE` or `reprise pull`.",
                      markup=False, highlight=False)
        return
    console.print(table)


@click.command()
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the tree as nested JSON.")
@click.pass_context
def tree(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """Show a session's requests as a tree of session paths."""
    from core.tree import TreeFolder, build_tree

    with open_store(ctx) as store:
        requests = store.session_requests(resolve_session(store, session_id))
    root = build_tree(requests)
    if as_json:
        print_json(root.to_json())
        return
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    def label_folder(folder: TreeFolder) -> Text:
        return Text.assemble(
            (literal(folder.name) or "/", "bold"), (f"  {folder.count} req · {folder.latency_s:.2f}s", "dim")
        )

    def add(node: Tree, folder: TreeFolder) -> None:
        for entry in folder.entries:
            if isinstance(entry, TreeFolder):
                add(node.add(label_folder(entry)), entry)
            else:
                node.add(
                    Text.assemble(
                        (literal(entry.id[:8]), "cyan"),
                        f"  {literal(entry.model)}",
                        (f"  {literal(entry.prompt_id)}" if entry.prompt_id else "", "magenta"),
                        (f"  {entry.status}" if entry.status else "", "dim"),
                    )
                )

    rich_tree = Tree(label_folder(root))
    add(rich_tree, root)
    Console().print(rich_tree)


@click.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole normalized request.")
@click.pass_context
def show(ctx: click.Context, request_id: str, as_json: bool) -> None:
    """Show one request: its messages and its response."""
    from core.formats import replay_blocker, request_format
    from core.sources.calls import undecided_note

    with open_store(ctx) as store:
        request = store.get_request(resolve_request(store, request_id))
    assert request is not None  # resolved above
    if as_json:
        # Bodies go through json, not the model: any depth the store holds can be printed.
        data = request.model_dump(mode="json", exclude={"request_body", "response_body"})
        # Timestamps as every --json output writes them (core.text.dumps_json).
        data.update({name: value for name, value in request.model_dump(
                         exclude={"request_body", "response_body"}).items() if isinstance(value, datetime)})
        print_json({**data, "request_body": request.request_body,
                    "response_body": request.response_body})
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    console.print(
        Text.assemble(
            ("request ", "bold"),
            literal(request.id),
            "  ",
            (literal(request.model), "cyan"),
            "  ",
            (literal(request.session_path), "magenta"),
        )
    )
    if request.raw_cost is not None:
        console.print(Text(f"⚠ logged cost {request.raw_cost:g} is not a dollar amount",
                           style="yellow"))
    fmt = request_format(request)
    reason = replay_blocker(request)
    undecided = undecided_note(request)
    if undecided:
        console.print(Text(literal(f"↪ {undecided}"), style="cyan"))
    if fmt is None:
        console.print(Text(literal(f"not replayable: {reason}"), style="yellow"))
        for label, body in (("request", request.request_body), ("response", request.response_body)):
            console.print(Text(f"[{label} body]", style="bold"))
            shown = body if isinstance(body, str) else dumps_json(body)
            console.print(Text(literal(shown)), style="dim")
        return
    for note in fmt.notes(request.request_body):
        console.print(Text(literal(f"↪ {note}"), style="cyan"))
    if reason:
        console.print(Text(literal(f"not replayable: {reason}"), style="yellow"))
    for message in fmt.messages(request.request_body):
        title = f"[{literal(message.role)}]"
        if message.tool_call_id or (message.role == "tool" and message.name):
            title += f" ← {literal(message.tool_call_id or message.name or '')}"
        console.print(Text(title, style="bold"))
        if message.reasoning:
            console.print(Text(literal(f"(reasoning) {message.reasoning}"), style="dim italic"))
        if message.text:
            console.print(Text(literal(message.text)))
        for call in message.tool_calls:
            console.print(Text(literal(f"→ {call.name}({call.arguments})"), style="yellow"))
    output = fmt.output(request.response_body)
    console.print(Text("[response]", style="bold green"))
    if output.error:
        console.print(Text(literal(output.error), style="red"))
    if output.reasoning:
        console.print(Text(literal(f"(reasoning) {output.reasoning}"), style="dim italic"))
    console.print(Text(literal(output.text)))
    for call in output.tool_calls:
        console.print(Text(literal(f"→ {call.name}({call.arguments})"), style="yellow"))
