"""A matrix run in the replay process (`core.replay.child`): the lines it sends and reads.

Kept apart from `core.replay.child` so that the app's replays do not load the matrix engine;
the lines are the replay process's own (`CancelledLine`, `FailedLine`) plus matrix events and
the finished matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.matrix import Matrix, MatrixEvent, run_matrix
from core.replay.child import (
    CancelledLine,
    ChildJob,
    FailedLine,
    Lines,
    ReplayProcess,
    run_ended,
)
from core.replay.models import ReplayTarget
from core.store import Store


class MatrixEventLine(BaseModel):
    kind: Literal["matrix_event"] = "matrix_event"
    event: MatrixEvent


class MatrixFinishedLine(BaseModel):
    kind: Literal["matrix_finished"] = "matrix_finished"
    matrix: Matrix


class MatrixLine(Lines[Annotated[MatrixEventLine | MatrixFinishedLine | CancelledLine
                                 | FailedLine, Field(discriminator="kind")]]):
    """One line from a matrix's process."""


async def run_matrix_lines(store: Store, matrix_id: str, target: ReplayTarget | None,
                           send: Callable[[BaseModel], object]) -> MatrixFinishedLine:
    """The replay process's side: run the matrix, sending each event as a line."""
    def on_event(event: MatrixEvent) -> None:
        send(MatrixEventLine(event=event))

    matrix = await run_matrix(store, resume_id=matrix_id, target=target, on_event=on_event)
    return MatrixFinishedLine(matrix=matrix)


def follow_matrix(process: ReplayProcess, job: ChildJob,
                  on_event: Callable[[MatrixEvent], object], should_stop: Callable[[], bool],
                  tick: Callable[[], object] | None = None) -> Matrix:
    """The app's side: run `job` (a matrix) in `process`; events go to `on_event`.

    Cancelling and failures end as for a replay (`ReplayProcess.run`).
    """
    def line(raw: bytes | bytearray) -> Matrix | None:
        parsed = process.parse(MatrixLine, raw)
        if isinstance(parsed, MatrixEventLine):
            on_event(parsed.event)
            return None
        return parsed.matrix if isinstance(parsed, MatrixFinishedLine) else run_ended(parsed)

    return process.follow(job, line, should_stop, tick)
