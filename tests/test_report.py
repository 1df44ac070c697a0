"""Replay exports: JSON, Markdown and a self-contained HTML file checked structurally."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from core.demo import demo_store_copy
from core.edits import EditSet, ParamEdit, SystemEdit
from core.evals import ExtractScorer, score_replay
from core.replay.engine import run_replay
from core.replay.models import ReplaySpec
from core.report import build_report, export_replay, render
from core.store import Store
from tests.servers import FakeProvider, system_and_last_user

DEBATE = "d3a9f2fb-282e-5b8d-98a8-2dc0e9681a75"
HOSTILE = "<script>alert('x')</script> [bold red]boom[/] ```` & \"q\""


def reply(body: dict[str, Any]) -> str:
    system, user = system_and_last_user(body)
    if "impartial judge" in system:
        return "Score: 9/10. Short and sharp."
    return f"{HOSTILE} {user[:20]}"


@pytest.fixture
def demo(tmp_path: Path) -> Store:
    with Store(demo_store_copy(tmp_path)) as store:
        yield store


@pytest.fixture
async def replayed(demo: Store) -> tuple[Store, str]:
    edits = EditSet(system=[SystemEdit(target="argument-evaluation", mode="append",
                                       text=" Keep the feedback <b>short</b>.")],
                    params=[ParamEdit(scope="prompt", target="assistant-argument",
                                      temperature=0.1)])
    with FakeProvider(reply=reply) as server:
        # One request fails for certain: the judge of the third user argument (no dependants,
        # so the rest of the replay, hostile replies included, always completes).
        server.fail_if(
            lambda body: "impartial judge" in json.dumps(body)
            and "Even with rebates" in json.dumps(body),
            status=400,
        )
        replay = await run_replay(demo, ReplaySpec(session_id=DEBATE, via=server.base_url,
                                                   edits=edits))
    return demo, replay.id


class Collector(HTMLParser):
    """Tags with classes, plus the text inside every diff block split by span kind."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.diffs: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        cls = attributes.get("class") or ""
        if tag == "div" and cls == "diff":
            self.diffs.append({"original": "", "replay": ""})
        self.stack.append(cls if tag in ("span", "del", "ins") else tag)

    def handle_endtag(self, tag: str) -> None:
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.stack and self.stack[-1] in ("eq", "del", "ins") and self.diffs:
            kind = self.stack[-1]
            if kind in ("eq", "del"):
                self.diffs[-1]["original"] += data
            if kind in ("eq", "ins"):
                self.diffs[-1]["replay"] += data


async def test_report_data(replayed: tuple[Store, str]) -> None:
    store, replay_id = replayed
    report = build_report(store, replay_id)
    assert report.stats.requests == 9 and report.stats.failed >= 1
    assert report.stats.replayed + report.stats.failed == 9
    assert report.session_name == "AI Debate"
    failed = [r for r in report.requests if r.status == "failed"]
    assert failed and "HTTP 400" in (failed[0].error or "")
    for item in report.requests:
        if item.ops:
            assert "".join(op[1] for op in item.ops) == item.original_text
            assert "".join(op[2] for op in item.ops) == item.replay_text
    assert any(r.edited for r in report.requests)
    assert report.stats.original_cost == pytest.approx(
        sum(r.cost or 0 for r in store.session_requests(DEBATE)))
    with pytest.raises(ValueError):
        build_report(store, "missing")
    with pytest.raises(ValueError):
        render(report, "pdf")


async def test_html_is_self_contained_escaped_and_coloured(replayed: tuple[Store, str]) -> None:
    store, replay_id = replayed
    scorer = ExtractScorer(prompt_id="argument-evaluation", pattern=r"Score:\s*(\d+)")
    scores = await score_replay(store, replay_id, [scorer])
    page = export_replay(store, replay_id, "html", scores)
    parser = Collector()
    parser.feed(page)
    parser.close()
    tags = [t for t, _ in parser.tags]
    assert tags[:2] == ["html", "head"] and "style" in tags
    # Nothing executable and nothing fetched: the file works offline.
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert not any("src" in attrs or "href" in attrs for _, attrs in parser.tags)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>short</b>" not in page and "&lt;b&gt;short&lt;/b&gt;" in page
    classes = {attrs.get("class") for _, attrs in parser.tags}
    assert {"diff", "eq", "del", "ins"} <= classes
    assert "del.del" in page and "ins.ins" in page  # the colours are in the inline CSS
    report = build_report(store, replay_id)
    with_ops = [r for r in report.requests if r.ops]
    assert len(parser.diffs) == len(with_ops) > 0
    for diff, item in zip(parser.diffs, with_ops, strict=True):
        assert diff["original"] == item.original_text
        assert diff["replay"] == item.replay_text
    text = "".join(parser.text)
    assert HOSTILE in text  # shown literally, markup and all
    assert "Score: 9/10" in text and "Session score" in text
    assert "Keep the feedback <b>short</b>." in text


async def test_markdown_fences_untrusted_text(replayed: tuple[Store, str]) -> None:
    store, replay_id = replayed
    md = export_replay(store, replay_id, "md")
    assert md.startswith(f"# Replay {replay_id}\n")
    assert "## Edits" in md and "append to (prompt argument-evaluation)" in md
    assert "temperature=0.1" in md
    assert "[-" in md and "{+" in md
    # The reply contains a 4-backtick run, so its fence is longer.
    assert "`````text\n" in md
    for line in md.splitlines():
        if "<script>" in line:
            assert not line.startswith(("#", "|", "-"))  # only ever inside a code fence
    assert "| Mean similarity |" in md


async def test_json_export_round_trips(replayed: tuple[Store, str]) -> None:
    store, replay_id = replayed
    scores = await score_replay(store, replay_id, [
        ExtractScorer(prompt_id="argument-evaluation", pattern=r"Score:\s*(\d+)")])
    data = json.loads(export_replay(store, replay_id, "json", scores))
    assert data["replay_id"] == replay_id and data["session_id"] == DEBATE
    assert data["edits"]["system"][0]["mode"] == "append"
    assert len(data["requests"]) == 9
    first = next(r for r in data["requests"] if r["ops"])
    assert "".join(op[2] for op in first["ops"]) == first["replay_text"]
    assert data["scores"]["summary"]["mean_replay"] == 9
    scored = [r for r in data["requests"] if r["scores"]]
    assert scored and "delta" in scored[0]["scores"][0]
    assert data["stats"]["mean_similarity"] is not None
