"""`reprise record`: the recording proxy and OTLP endpoint, until Ctrl-C."""

from __future__ import annotations

import sys

import click

from tui.commands.common import fail, store_path


@click.command("record")
@click.option("--port", type=int, default=8787, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback address to listen on (127.0.0.1, ::1 or localhost).")
@click.option("--session-name", default="", help="Name of the session requests without"
              " session headers are grouped into (default: 'recorded DATE TIME').")
@click.option("--upstream-openai", default=None, metavar="URL",
              help="Where OpenAI-format calls go (default https://api.openai.com).")
@click.option("--upstream-anthropic", default=None, metavar="URL",
              help="Where /v1/messages calls go (default https://api.anthropic.com).")
@click.option("--upstream-gemini", default=None, metavar="URL",
              help="Where Gemini calls go (default https://generativelanguage.googleapis.com).")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait for an upstream response (between chunks when streamed).")
@click.pass_context
def record(ctx: click.Context, port: int, host: str, session_name: str,
           upstream_openai: str | None, upstream_anthropic: str | None,
           upstream_gemini: str | None, timeout: float) -> None:
    """Record an app's LLM calls: point its base URL here (OPENAI_BASE_URL=http://HOST:PORT/v1,
    ANTHROPIC_BASE_URL=http://HOST:PORT) and its OpenTelemetry exporter too
    (OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:PORT). Ctrl-C stops after calls in flight."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail("reprise record needs the [record] extra: pip install 'reprise-tui[record]'")
    from pydantic import ValidationError

    from core.servers import base
    from core.servers.recorder import DEFAULT_UPSTREAMS, Recorder, RecordSettings

    if host not in base.LOOPBACK:
        fail(f"--host {host}: reprise record listens on loopback only (keys pass through it)")
    upstreams = dict(DEFAULT_UPSTREAMS)
    for name, url in (("openai", upstream_openai), ("anthropic", upstream_anthropic),
                      ("gemini", upstream_gemini)):
        if url:
            upstreams[name] = url.rstrip("/")
    try:
        settings = RecordSettings(db=str(store_path(ctx)), session_name=session_name,
                                  upstreams=upstreams, timeout=timeout).checked()
    except (ValidationError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    try:  # a store that cannot be opened is one line now, not a failed server later
        from core.store import Store

        Store(settings.db).close()
    except Exception as exc:
        fail(f"cannot open store {settings.db}: {exc}")
    log = LiveLog(sys.stderr.isatty())
    recorder = Recorder(settings, log=log.event)
    try:
        sock = base.bind(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    url = base.address(sock)
    click.echo(base.announce("record", url))
    click.echo(f"  store {settings.db}; session '{recorder.session_name}'", err=True)
    click.echo(f"  OPENAI_BASE_URL={url}/v1  ANTHROPIC_BASE_URL={url}"
               f"  OTEL_EXPORTER_OTLP_ENDPOINT={url}   (Ctrl-C stops)", err=True)
    try:
        base.serve(recorder.app(), sock)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once calls in flight are done
        pass
    finally:
        sock.close()
        log.done(recorder)


class LiveLog:
    """One status line rewritten in place on a terminal; one line per event otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def event(self, event: object) -> None:
        from core.text import literal

        text = literal(" ".join(str(getattr(event, "text", event)).split()))
        session = getattr(event, "session", "")
        kind = getattr(event, "kind", "")
        line = f"{kind:<7} {text}" + (f"  [{literal(session)}]" if session else "")
        if self.tty:
            width = 119
            sys.stderr.write("\r\x1b[2K" + line[:width])
            if getattr(event, "failed", False):
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self, recorder: object) -> None:
        stats = getattr(recorder, "stats", None)
        if stats is None:
            return
        if self.tty:
            sys.stderr.write("\n")
        sys.stderr.write(
            f"reprise record: stopped; {stats.requests} request(s), {stats.failed} failed,"
            f" {stats.spans} span(s), {len(stats.sessions)} session(s)\n"
        )
        sys.stderr.flush()
