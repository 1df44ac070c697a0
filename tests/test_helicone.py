"""Helicone client and pull, against a real fake Helicone on loopback."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from core.sources.helicone import (
    HeliconeAuthError,
    HeliconeClient,
    HeliconeConfig,
    HeliconeError,
    PullReport,
    parse_since,
    pull,
    resolve_region,
)
from core.store import Store
from tests.helicone_server import FIXTURES, TEST_KEY, FakeHelicone, fixture_rows


@pytest.fixture
def server():
    with FakeHelicone() as fake:
        yield fake


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "reprise.db") as db:
        yield db


def config_for(fake: FakeHelicone, **settings) -> HeliconeConfig:
    settings.setdefault("retry_base_s", 0.01)
    settings.setdefault("max_retries", 2)
    return HeliconeConfig.from_env(fake.api_key, base_url=fake.url, **settings)


def assert_key_never_sent_to_storage(fake: FakeHelicone) -> None:
    storage_calls = [r for r in fake.all_recorded() if r.server == "storage"]
    assert storage_calls, "expected signed-URL fetches"
    for call in storage_calls:
        assert "authorization" not in call.headers
        assert not any(fake.api_key in value for value in call.headers.values())
        assert fake.api_key not in call.path


# -- configuration ---------------------------------------------------------------------------


def test_region_from_key_with_override():
    assert resolve_region("sk-helicone-eu-abc") == "eu"
    assert resolve_region("sk-helicone-abc") == "us"
    assert resolve_region("sk-helicone-eu-abc", "us") == "us"
    eu = HeliconeConfig.from_env("sk-helicone-eu-secret123")
    assert eu.api_url == "https://eu.api.helicone.ai"
    assert HeliconeConfig.from_env("sk-helicone-x").api_url == "https://api.helicone.ai"
    own = HeliconeConfig.from_env("sk-helicone-eu-x", base_url="https://helicone.local:8585/")
    assert own.api_url == "https://helicone.local:8585"
    # The key never travels in clear text to another machine; loopback is fine.
    with pytest.raises(HeliconeError, match="https"):
        HeliconeConfig.from_env("sk-helicone-x", base_url="http://helicone.local:8585")
    assert HeliconeConfig.from_env("sk-helicone-x", base_url="http://127.0.0.1:8585").api_url


def test_config_hides_key_and_reads_env(monkeypatch):
    monkeypatch.setenv("HELICONE_API_KEY", "sk-helicone-from-env-42")
    config = HeliconeConfig.from_env()
    assert config.api_key.get_secret_value() == "sk-helicone-from-env-42"
    assert "from-env-42" not in repr(config)
    assert "from-env-42" not in str(config.model_dump())
    monkeypatch.delenv("HELICONE_API_KEY")
    with pytest.raises(HeliconeError, match="HELICONE_API_KEY is not set"):
        HeliconeConfig.from_env()


def test_parse_since():
    now = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("2025-01-01", now=now) == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="7d"):
        parse_since("last tuesday")


# -- sessions --------------------------------------------------------------------------------


async def test_sessions_page_lazily_with_string_numbers_and_clickhouse_times():
    with FakeHelicone(string_numbers=True) as fake:
        base = datetime.now(UTC) - timedelta(hours=10)
        for n in range(5):
            fake.add_session(
                f"sess-{n}", 3, name="Debate" if n % 2 else "", start=base + timedelta(hours=n)
            )
        async with HeliconeClient(config_for(fake, sessions_page_size=2)) as client:
            pages = [page async for page in client.iter_sessions(since=base - timedelta(hours=1))]
            assert [len(p) for p in pages] == [2, 2, 1]
            sessions = [s for page in pages for s in page]
            assert [s.id for s in sessions] == [f"sess-{n}" for n in range(4, -1, -1)]
            first = sessions[0]
            assert first.source == "helicone" and first.requests == 3
            assert first.total_tokens > 0 and first.started_at.tzinfo is not None
            assert first.duration_s == pytest.approx(2.0)
            found = await client.query_sessions(search="SESS-3", since=base - timedelta(hours=1))
            assert [s.id for s in found] == ["sess-3"]
        body = fake.calls("/v1/session/query")[0].body
        assert body["timezoneDifference"] == 0 and "isScored" not in body
        assert fake.calls("/v1/session/query")[0].headers["authorization"] == f"Bearer {TEST_KEY}"


# -- requests --------------------------------------------------------------------------------


async def test_session_of_2500_requests_pages_through_short_pages():
    with FakeHelicone(duplicate_every=7, string_numbers=True) as fake:
        ids = fake.add_session("big", 2500)
        async with HeliconeClient(config_for(fake)) as client:
            requests = await client.fetch_session_requests("big")
        assert [r.id for r in requests] == ids  # every row once, oldest first
        assert all(r.cost == pytest.approx(0.00002) for r in requests)  # newest version kept
        assert all(r.total_tokens and r.total_tokens >= 60 for r in requests)
        calls = fake.calls("/v1/request/query-clickhouse")
        assert len(calls) == 4  # 3 pages (short after de-duplication) + the empty one
        for call in calls:
            body = call.body
            assert "isScored" not in body and body["limit"] <= 1000
            assert body["sort"] == {"created_at": "asc"}
            left, right = body["filter"]["left"], body["filter"]["right"]
            assert left == {
                "request_response_rmt": {"properties": {"Helicone-Session-Id": {"equals": "big"}}}
            }
            assert "gte" in right["request_response_rmt"]["request_created_at"]
            assert call.headers["authorization"] == f"Bearer {TEST_KEY}"


@pytest.mark.parametrize("separate_storage", [True, False])
async def test_signed_bodies_fetched_without_the_key(separate_storage):
    with FakeHelicone(separate_storage=separate_storage) as fake:
        fake.add_session("s3-session", 10, s3_every=2)
        async with HeliconeClient(config_for(fake)) as client:
            fetched = await client.fetch_session("s3-session")
        assert fetched.bodies_fetched == 5 and fetched.errors == []
        assert all(r.body_state == "full" for r in fetched.requests)
        assert all(isinstance(r.request_body, dict) for r in fetched.requests)
        assert_key_never_sent_to_storage(fake)


async def test_expired_signed_urls_are_requeried_once():
    with FakeHelicone() as fake:
        fake.add_session("exp", 6, s3_every=1)
        fake.storage.born_expired = 6  # every URL in the listing has already expired
        async with HeliconeClient(config_for(fake)) as client:
            fetched = await client.fetch_session("exp")
        assert fetched.errors == [] and fetched.bodies_fetched == 6
        assert all(r.body_state == "full" for r in fetched.requests)
        assert len(fake.calls("/v1/request/query-ids")) == 1
        denied = [r for r in fake.all_recorded() if r.server == "storage"]
        assert len(denied) == 12
        assert_key_never_sent_to_storage(fake)


async def test_missing_storage_object_falls_back_to_include_body():
    with FakeHelicone() as fake:
        ids = fake.add_session("gone", 3, s3_every=1)
        fake.storage.broken.add(ids[1])
        async with HeliconeClient(config_for(fake)) as client:
            fetched = await client.fetch_session("gone")
        assert fetched.errors == [] and fetched.bodies_fetched == 3
        call = fake.calls(f"/v1/request/{ids[1]}")[0]
        assert call.query == {"includeBody": ["true"]}


async def test_unfetchable_body_keeps_the_preview_and_reports(store):
    with FakeHelicone() as fake:
        ids = fake.add_session("partial", 4, s3_every=2)
        fake.storage.broken.add(ids[0])
        fake.fail(
            f"/v1/request/{ids[0]}",
            500,
            body={"data": None, "error": "Error fetching request body"},
            times=5,
        )
        async with HeliconeClient(config_for(fake)) as client:
            report = await pull(store, client, session_ids=["partial"])
        assert report.sessions == 1 and report.requests == 4 and report.bodies_fetched == 1
        assert len(report.errors) == 1 and ids[0] in report.errors[0]
        kept = store.get_request(ids[0])
        assert kept is not None and kept.body_state == "preview"
        assert kept.request_body.startswith("Argument number 0")


async def test_legacy_endpoint_when_query_clickhouse_is_missing():
    with FakeHelicone(clickhouse=False) as fake:
        ids = fake.add_session("old", 5)
        async with HeliconeClient(config_for(fake)) as client:
            fetched = await client.fetch_session("old")
        assert [r.id for r in fetched.requests] == ids
        assert all(r.body_state == "full" for r in fetched.requests)
        assert fetched.requests[0].request_url == "https://oai.helicone.ai/v1/chat/completions"
        legacy = fake.calls("/v1/request/query")[0].body
        assert legacy["filter"] == {"properties": {"Helicone-Session-Id": {"equals": "old"}}}
        assert_key_never_sent_to_storage(fake)


async def test_get_request_with_body(server):
    ids = server.add_session("one", 2, s3_every=1)
    async with HeliconeClient(config_for(server)) as client:
        request = await client.get_request(ids[1])
    assert request.body_state == "full" and request.request_body["model"] == "gpt-4o-mini"


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared Helicone fixtures not present")
async def test_contract_fixture_rows():
    with FakeHelicone() as fake:
        for row, body in fixture_rows():
            fake.add_row(row, body)
        session = "5b0c2f1e-8a3d-4c57-9e0b-2f6a1d9c7e41"
        async with HeliconeClient(config_for(fake)) as client:
            fetched = await client.fetch_session(session, since=datetime(2025, 1, 1, tzinfo=UTC))
            listed = await client.query_sessions(
                since=datetime(2025, 3, 1, tzinfo=UTC), until=datetime(2025, 4, 1, tzinfo=UTC)
            )
        assert [s.id for s in listed] == [session] and listed[0].requests == 4
        assert [r.id[:8] for r in fetched.requests] == [
            "a1e7c3d2",
            "b2f8d4e3",
            "c3a9e5f4",
            "d4b0f6a5",
        ]
        anthropic = fetched.requests[0]
        assert anthropic.body_state == "full" and anthropic.request_body["system"].startswith(
            "You are"
        )
        assert "streamed_data" not in fetched.requests[1].response_body
        assert fetched.bodies_fetched == 1 and fetched.errors == []


# -- errors ----------------------------------------------------------------------------------


async def test_bad_key_gives_a_clear_message_without_the_key(server):
    config = HeliconeConfig.from_env("sk-helicone-wrong-0001", base_url=server.url)
    async with HeliconeClient(config) as client:
        with pytest.raises(HeliconeAuthError) as caught:
            await client.query_sessions()
    message = str(caught.value)
    assert "HTTP 401" in message and "HELICONE_API_KEY" in message and "region" in message
    assert "sk-helicone-wrong-0001" not in message
    assert len(server.recorded) == 1  # never retried


async def test_error_envelope_with_2xx_is_an_error(server):
    server.fail("/v1/session/query", 200, body={"data": None, "error": "bad filter"})
    async with HeliconeClient(config_for(server)) as client:
        with pytest.raises(HeliconeError, match=r"POST /v1/session/query: bad filter"):
            await client.query_sessions()


async def test_server_error_echoing_the_key_is_scrubbed(server):
    server.fail("/v1/session/query", 400, body={"data": None, "error": f"bad key {TEST_KEY}"})
    async with HeliconeClient(config_for(server)) as client:
        with pytest.raises(HeliconeError) as caught:
            await client.query_sessions()
    assert TEST_KEY not in str(caught.value) and "HTTP 400" in str(caught.value)


async def test_rate_limit_honours_retry_after(server):
    server.add_session("s", 2)
    server.fail(
        "/v1/request/query-clickhouse",
        429,
        body={"data": None, "error": "rate limited"},
        headers={"Retry-After": "0.4"},
    )
    async with HeliconeClient(config_for(server)) as client:
        started = time.monotonic()
        requests = await client.fetch_session_requests("s")
        waited = time.monotonic() - started
    assert len(requests) == 2 and waited >= 0.4
    assert len(server.calls("/v1/request/query-clickhouse")) == 3  # 429, page, empty page


async def test_server_errors_retry_then_fail_clearly(server):
    server.fail("/v1/session/query", 503, raw=b"<html>upstream</html>", times=1)
    async with HeliconeClient(config_for(server)) as client:
        assert await client.query_sessions() == []
        server.fail(
            "/v1/session/query", 500, body={"data": None, "error": "clickhouse down"}, times=9
        )
        with pytest.raises(
            HeliconeError,
            match=r"HTTP 500 on POST /v1/session/query after 3 attempts: clickhouse down",
        ):
            await client.query_sessions()


async def test_malformed_json_names_the_endpoint(server):
    server.fail("/v1/request/query-clickhouse", 201, raw=b'{"data": [')
    async with HeliconeClient(config_for(server)) as client:
        with pytest.raises(
            HeliconeError, match=r"malformed JSON from POST /v1/request/query-clickhouse"
        ):
            await client.fetch_session_requests("x")


async def test_timeouts_retry_then_fail():
    with FakeHelicone(latency_s=0.5) as fake:
        async with HeliconeClient(config_for(fake, timeout_s=0.1, max_retries=1)) as client:
            with pytest.raises(HeliconeError, match=r"timed out after 0.1 s, 2 attempts"):
                await client.query_sessions()


# -- pulling into the store ------------------------------------------------------------------


async def test_pull_is_incremental(store):
    with FakeHelicone() as fake:
        ids_a = fake.add_session("a", 5, s3_every=2)
        fake.add_session("b", 3)
        async with HeliconeClient(config_for(fake)) as client:
            first = await pull(store, client, since=datetime.now(UTC) - timedelta(days=1))
        assert (first.sessions, first.requests, first.added, first.updated) == (2, 8, 8, 0)
        assert first.bodies_fetched == 3 and first.errors == []
        assert store.get_session("a").requests == 5

        changed = next(r for r in fake.rows if r["request_id"] == ids_a[1])
        changed["scores"] = {"argument_quality": 9}
        fake.add_session("a", 2, start=datetime.now(UTC) - timedelta(minutes=30))
        async with HeliconeClient(config_for(fake)) as client:
            second = await pull(store, client, session_ids=["a"])
        # Only the row whose scores changed is updated; the other four are the same rows again.
        assert (second.sessions, second.requests, second.added, second.updated) == (1, 7, 2, 1)
        assert second.unchanged == 4
        assert store.get_request(ids_a[1]).scores == {"argument_quality": 9.0}
        assert store.get_session("a").requests == 7
        assert store.get_request(ids_a[0]).body_state == "full"


async def test_interrupted_pull_keeps_finished_sessions(store):
    with FakeHelicone() as fake:
        for n in range(12):
            fake.add_session(f"s{n:02d}", 30)
        fake.kill_after(14)  # listing + a few sessions, then the server dies
        config = config_for(fake, session_concurrency=2)
        async with HeliconeClient(config) as client:
            report = await pull(store, client, since=datetime.now(UTC) - timedelta(days=1))
        assert 0 < report.sessions < 12
        assert report.errors and all("cannot reach Helicone" in e for e in report.errors)
        stored = store.list_sessions()
        assert len(stored) == report.sessions
        assert all(s.requests == 30 for s in stored)  # no session is half-written


async def test_pull_with_rejected_key_reports_and_stops(store):
    with FakeHelicone() as fake:
        fake.add_session("a", 2)
        config = HeliconeConfig.from_env("sk-helicone-nope-99", base_url=fake.url)
        async with HeliconeClient(config) as client:
            report = await pull(store, client, session_ids=["a", "b", "c"])
    assert report.sessions == 0 and len(report.errors) == 1
    assert "HELICONE_API_KEY" in report.errors[0] and "nope-99" not in report.errors[0]


async def test_pull_reports_progress(store):
    with FakeHelicone() as fake:
        for n in range(4):
            fake.add_session(f"p{n}", 2)
        seen = []
        async with HeliconeClient(config_for(fake)) as client:
            await pull(store, client, on_progress=seen.append)
    assert seen[-1].sessions_done == 4 and seen[-1].sessions_total == 4 and seen[-1].listing_done
    assert seen[-1].requests == 8


# -- command line ----------------------------------------------------------------------------


def test_cli_pull_json(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tui.cli import cli

    with FakeHelicone() as fake:
        fake.add_session("cli-1", 3, s3_every=3)
        fake.add_session("cli-2", 2)
        monkeypatch.setenv("HELICONE_API_KEY", fake.api_key)
        db = tmp_path / "cli.db"
        result = CliRunner().invoke(
            cli,
            ["--db", str(db), "pull", "--since", "1d", "--helicone-url", fake.url, "--json"],
            obj={},
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data == {"sessions": 2, "requests": 5, "bodies_fetched": 1, "errors": []}
        result = CliRunner().invoke(
            cli,
            ["--db", str(db), "pull", "--session", "cli-2", "--helicone-url", fake.url],
            obj={},
        )
        assert result.exit_code == 0 and "pulled 1 sessions, 2 requests" in result.stdout
    with Store(db) as check:
        assert {s.id for s in check.list_sessions()} == {"cli-1", "cli-2"}


def test_cli_pull_bad_key_exits_1_without_leaking(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tui.cli import cli

    with FakeHelicone() as fake:
        monkeypatch.setenv("HELICONE_API_KEY", "sk-helicone-leak-check-777")
        result = CliRunner().invoke(
            cli,
            ["--db", str(tmp_path / "x.db"), "pull", "--helicone-url", fake.url, "--json"],
            obj={},
        )
    assert result.exit_code == 1
    report = PullReport.model_validate_json(result.stdout)
    assert "check HELICONE_API_KEY" in report.errors[0]
    assert "leak-check-777" not in result.output


def test_cli_pull_without_key(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tui.cli import cli

    monkeypatch.delenv("HELICONE_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "pull"], obj={})
    assert result.exit_code == 1 and "HELICONE_API_KEY is not set" in result.output


async def test_rate_limit_with_a_long_retry_after_is_reported_not_waited(server):
    server.fail(
        "/v1/session/query",
        429,
        body={"data": None, "error": "slow down"},
        headers={"Retry-After": "3600"},
    )
    async with HeliconeClient(config_for(server)) as client:
        started = time.monotonic()
        with pytest.raises(HeliconeError, match="asks to wait 3600 s"):
            await client.query_sessions()
    assert time.monotonic() - started < 1


async def test_pull_pipelines_sessions_and_bodies(store):
    with FakeHelicone(latency_s=0.05) as fake:
        for n in range(6):
            fake.add_session(f"pipe-{n}", 8, s3_every=2)
        async with HeliconeClient(config_for(fake)) as client:
            report = await pull(store, client, since=datetime.now(UTC) - timedelta(days=1))
    assert report.requests == 48 and report.bodies_fetched == 24 and report.errors == []
    # Pipelined, not one call at a time (the time it saves is measured in the benchmark).
    assert fake.max_in_flight >= 2 and fake.storage.max_in_flight >= 4


def test_bad_helicone_url_is_a_clear_error():
    with pytest.raises(
        HeliconeError, match=r"^invalid Helicone settings: base_url: the Helicone URL must start"
    ):
        HeliconeConfig.from_env("sk-helicone-x", base_url="ftp://helicone.local")


def test_a_session_row_without_a_cost_lists_it_as_unknown():
    """A cost Helicone did not report is unknown, shown as such, never $0."""
    from core.sources.helicone import _SessionRow

    row = {"session_id": "s-1", "created_at": "2025-01-01 10:00:00.000",
           "total_requests": "2"}
    assert _SessionRow.parse(row).summary().cost is None
    assert _SessionRow.parse({**row, "total_cost": "0"}).summary().cost == 0.0
    assert _SessionRow.parse({**row, "total_cost": 0.25}).summary().cost == 0.25
