"""Matrix setup with an LLM judge per prompt id, sent to the matrix's own target."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import DataTable

from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION
from core.evals import ExtractScorer, JudgeScorer
from core.store import Store
from tests.servers import FakeProvider, system_and_last_user
from tests.test_app import SIZE
from tests.test_app_matrix import EVAL, config_for, open_setup, planned
from tests.test_app_replay import wait_for
from tui.app import RepriseApp
from tui.config import Config, ReplayDefaults
from tui.screens.matrix import MatrixScreen

JUDGE = "GRADE THIS. Question: {input}\\nAnswer: {output}\\nReply with a number."


def judge_reply(body: dict[str, Any]) -> str:
    _, user = system_and_last_user(body)
    return "7" if user.startswith("GRADE THIS.") else f"[{body.get('model')}] {user[:30]}"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr("core.local_model.local_runtime_available", lambda: False)
    store = Store(demo_store_copy(tmp_path))
    yield store
    store.close()


async def run_judged_matrix(pilot, app: RepriseApp, server: FakeProvider,
                            regex: str = "") -> MatrixScreen:
    setup = await open_setup(pilot, app)
    setup.query_one("#variants-0").load_text("+ Keep the feedback short.")
    setup.query_one("#score-0").value = regex
    setup.query_one("#judge-0").value = "Rate the answer from 1 to 10."
    await planned(pilot)
    plan = str(setup.query_one("#matrix-plan").render())
    assert "needs {output}" in plan
    await pilot.press("ctrl+s")
    await planned(pilot)
    assert app.screen is setup
    setup.query_one("#judge-0").value = JUDGE
    await planned(pilot)
    plan = str(setup.query_one("#matrix-plan").render())
    assert "2 cells" in plan and "judge:" in plan and "needs" not in plan
    spec = setup.build_spec()
    judges = [s for s in spec.scorers if isinstance(s, JudgeScorer)]
    assert len(judges) == 1 and judges[0].prompt_id == EVAL
    assert "\nAnswer: {output}\n" in judges[0].template
    assert len(spec.scorers) == (2 if regex else 1)
    await pilot.press("ctrl+s")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, MatrixScreen)
    await wait_for(pilot, lambda: screen.run_worker_ is not None
                   and screen.run_worker_.is_finished, 30)
    await wait_for(pilot, lambda: screen.table is not None and len(screen.table.rows) == 2
                   and all(r.status == "done" and r.score is not None
                           for r in screen.table.rows), 30)
    await pilot.pause()
    return screen


def shown_scores(screen: MatrixScreen) -> list[str]:
    grid = screen.query_one("#matrix-table", DataTable)
    return [str(grid.get_cell(key, "score")) for key in grid.rows]


async def test_matrix_judge_scores_cells(demo: Store) -> None:
    with FakeProvider(reply=judge_reply, latency=0.01) as server:
        app = RepriseApp(demo, config_for(server), start_session=DEBATE_SESSION)
        async with app.run_test(size=SIZE) as pilot:
            screen = await run_judged_matrix(pilot, app, server)
            assert shown_scores(screen) == ["7.00", "7.00"]
            judged = [r for r in server.received
                      if system_and_last_user(r.body)[1].startswith("GRADE THIS.")]
            assert judged and all(r.path.endswith("/v1/chat/completions") for r in judged)
            # The judge uses the request's recorded model on the matrix's base URL.
            models = {r.body["model"] for r in judged}
            assert len(models) == 1 and None not in models


async def test_matrix_judge_beside_regex(demo: Store) -> None:
    with FakeProvider(reply=judge_reply, latency=0.01) as server:
        app = RepriseApp(demo, config_for(server), start_session=DEBATE_SESSION)
        async with app.run_test(size=SIZE) as pilot:
            screen = await run_judged_matrix(pilot, app, server, regex=r"(\d+)")
            assert screen.spec is not None
            kinds = sorted(type(s).__name__ for s in screen.spec.scorers)
            assert kinds == [ExtractScorer.__name__, JudgeScorer.__name__]


async def test_matrix_judge_on_the_local_model(demo: Store,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeProvider(reply=judge_reply, latency=0.01) as server:
        fake = SimpleNamespace(base_url=server.base_url + "/v1")

        async def ensure(*_: Any, **__: Any) -> SimpleNamespace:
            return fake

        monkeypatch.setattr("core.local_model.local_runtime_available", lambda: True)
        monkeypatch.setattr("core.local_model.ensure_local_server", ensure)
        app = RepriseApp(demo, Config(replay=ReplayDefaults(target="local", concurrency=4)),
                         start_session=DEBATE_SESSION)
        async with app.run_test(size=SIZE) as pilot:
            screen = await run_judged_matrix(pilot, app, server)
            assert screen.spec is not None
            judge = next(s for s in screen.spec.scorers if isinstance(s, JudgeScorer))
            assert judge.via == "local"
            assert shown_scores(screen) == ["7.00", "7.00"]
            judged = [r for r in server.received
                      if system_and_last_user(r.body)[1].startswith("GRADE THIS.")]
            assert judged and all(r.path == "/v1/chat/completions" for r in judged)
