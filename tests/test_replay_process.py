"""A replay in a process of its own (core.replay.child): the same run, events and errors as
in-process, against a real loopback provider and a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from core.matrix import MatrixEvent, MatrixSpec, create_matrix, parse_variant
from core.matrix_process import follow_matrix
from core.replay.child import (
    ChildJob,
    ReplayProcess,
    ReplayProcessFailed,
    SpareProcess,
    job_for,
    job_for_matrix,
)
from core.replay.models import ReplayEvent, ReplaySpec
from core.replay.transport import TargetRefused
from core.store import Store
from core.store.schema import StoreError
from tests.servers import FakeProvider
from tests.test_replay_engine import debate_session


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "replay.db") as s:
        debate_session(s)
        yield s


def _never() -> bool:
    return False


def test_a_replay_runs_in_its_own_process_and_reports_every_request(store: Store) -> None:
    events: list[ReplayEvent] = []
    with FakeProvider() as server:
        spec = ReplaySpec(session_id="s1", via=server.base_url + "/v1")
        replay = ReplayProcess().run(job_for(store, spec), events.append, _never)
    assert replay.status == "done"
    assert replay.owner_pid != os.getpid()  # run by the replay process
    results = store.replay_results(replay.id)
    assert sorted(results) == ["r1", "r2", "r3", "r4"]
    assert all(r.status == "done" and r.output_text for r in results.values())
    finished = {e.request_id: e.result for e in events if e.result is not None}
    assert {k: v.output_text for k, v in finished.items()} == {
        k: v.output_text for k, v in results.items()}
    assert len(server.received) == 4


def test_cancelling_keeps_what_finished_and_ends_cancelled(store: Store) -> None:
    stop = threading.Event()
    seen: list[ReplayEvent] = []

    def on_event(event: ReplayEvent) -> None:
        seen.append(event)
        if event.result is not None:
            stop.set()  # after the first result

    with FakeProvider(latency=0.4) as server:
        spec = ReplaySpec(session_id="s1", via=server.base_url + "/v1", concurrency=1)
        with pytest.raises(asyncio.CancelledError):
            ReplayProcess().run(job_for(store, spec), on_event, stop.is_set)
    replay_id = seen[0].replay_id
    replay = store.get_replay(replay_id)
    assert replay is not None and replay.status == "cancelled"
    kept = store.replay_results(replay_id)
    assert any(r.status == "done" for r in kept.values())


def test_a_refused_target_raises_the_engines_own_error(store: Store,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRISE_TEST_KEY", "sk-test-123")
    spec = ReplaySpec(session_id="s1", via="http://10.0.0.5/v1", api_key_env="REPRISE_TEST_KEY")
    with pytest.raises(TargetRefused) as caught:
        ReplayProcess().run(job_for(store, spec), lambda _e: None, _never)
    assert "clear text" in str(caught.value) and "sk-test-123" not in str(caught.value)
    assert caught.value.problem


def test_a_store_replaced_before_the_run_is_refused(store: Store) -> None:
    process = ReplayProcess()
    job = job_for(store, ReplaySpec(session_id="s1", via="http://127.0.0.1:9/v1"))
    store.path.unlink()
    store.path.write_bytes(b"")
    with pytest.raises(StoreError, match="deleted or replaced"):
        process.run(job, lambda _e: None, _never)


def test_a_process_that_dies_says_so_with_its_exit_status(store: Store) -> None:
    process = ReplayProcess()
    with FakeProvider(latency=5.0) as server:
        job = job_for(store, ReplaySpec(session_id="s1", via=server.base_url + "/v1"))
        killer = threading.Timer(1.5, lambda: os.kill(process._proc.pid, signal.SIGKILL))
        killer.start()
        try:
            with pytest.raises(ReplayProcessFailed, match="ended unexpectedly"):
                process.run(job, lambda _e: None, _never)
        finally:
            killer.cancel()


def test_a_job_that_is_not_one_is_refused_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "core.replay.child"], input=b'{"spec": 3}\n',
                          capture_output=True, timeout=60)
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    assert b'"kind":"failed"' in done.stdout and b"not a replay job" in done.stdout


def test_a_spare_process_ends_when_let_go() -> None:
    spare = SpareProcess()
    spare.prepare()
    process = spare._spare
    assert process is not None and process.alive
    spare.release()
    deadline = time.monotonic() + 30
    while process.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.alive


def test_the_job_names_the_key_variable_never_the_key(store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRISE_TEST_KEY", "sk-secret-456")
    spec = ReplaySpec(session_id="s1", via="https://llm.example/v1",
                      api_key_env="REPRISE_TEST_KEY", allow_hosts=["llm.example"])
    line = job_for(store, spec).model_dump_json()
    assert "REPRISE_TEST_KEY" in line and "sk-secret-456" not in line


def _matrix(store: Store, via: str) -> ChildJob:
    """A new matrix's job: the target is the one just named, as the setup form names it."""
    spec = MatrixSpec(session_ids=["s1"], via=via).add_variant(
        parse_variant("argument-evaluation", "short", "+ Keep it short."))
    return job_for_matrix(store, create_matrix(store, spec).id, target=spec.target())


def test_a_matrix_runs_in_its_own_process_with_every_cell(store: Store) -> None:
    events: list[MatrixEvent] = []
    with FakeProvider() as server:
        job = _matrix(store, server.base_url + "/v1")
        matrix = follow_matrix(ReplayProcess(), job, events.append, _never)
    assert matrix.id == job.matrix_id and matrix.status == "done"
    assert len(matrix.runs) == 2 and all(run.status == "done" for run in matrix.runs)
    assert len(server.received) == 8  # two cells of the four-request session
    kinds = [e.kind for e in events]
    assert kinds.count("cell_started") == 2 and kinds.count("cell_finished") == 2
    assert kinds[-1] == "matrix_finished"
    for run in matrix.runs:
        replay = store.get_replay(run.replay_id or "")
        assert replay is not None and replay.owner_pid != os.getpid()


def test_cancelling_a_matrix_keeps_what_finished(store: Store) -> None:
    stop = threading.Event()
    with FakeProvider(latency=0.3) as server:
        job = _matrix(store, server.base_url + "/v1")

        def on_event(event: MatrixEvent) -> None:
            if event.kind == "replay" and event.event is not None and event.event.result:
                stop.set()

        with pytest.raises(asyncio.CancelledError):
            follow_matrix(ReplayProcess(), job, on_event, stop.is_set)
    assert job.matrix_id is not None
    results = [r for run in store_matrix_runs(store, job.matrix_id)
               for r in store.replay_results(run).values()]
    assert any(r.status == "done" for r in results)


def store_matrix_runs(store: Store, matrix_id: str) -> list[str]:
    from core.matrix import get_matrix

    matrix = get_matrix(store, matrix_id)
    assert matrix is not None
    return [run.replay_id for run in matrix.runs if run.replay_id]


def test_a_job_is_a_replay_or_a_matrix_never_both(store: Store) -> None:
    spec = ReplaySpec(session_id="s1", via="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="one of them"):
        ChildJob(store_path="x", store_identity=(1, 2), spec=spec, matrix_id="m")
    with pytest.raises(ValueError, match="one of them"):
        ChildJob(store_path="x", store_identity=(1, 2))


def test_the_replay_process_yields_the_cores_to_the_screen() -> None:
    """Background work: the replay process runs below the app's scheduling priority."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    if mine >= 19:
        pytest.skip("already at the lowest priority")
    process = ReplayProcess()
    try:
        deadline = time.monotonic() + 30
        while os.getpriority(os.PRIO_PROCESS, process._proc.pid) == mine:
            assert time.monotonic() < deadline, "the replay process kept the app's priority"
            time.sleep(0.02)
        assert os.getpriority(os.PRIO_PROCESS, process._proc.pid) > mine
    finally:
        process.close()
