"""Keys go only to their own hosts, and never to disk or the screen.

Replays, resumes of a store prepared as another person's (its stored targets name a loopback
"attacker"), scores, pulls and exports run with distinctive keys, including ones with a
trailing CR/LF. Then the store (with its WAL), the exports, every command's output and every
loopback server's header log are searched: each key appears only at its own host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.evals import JudgeScorer, attach_scorers
from core.keys import Redactor, key_problem, redact
from core.matrix import MatrixSpec, create_matrix
from core.replay.models import ReplaySpec, ReplayTarget
from core.replay.transport import TargetRefused, credentials_for, resume_target
from core.store import Store
from tests.helicone_server import FakeHelicone
from tests.servers import FakeProvider, recorded_request
from tui.cli import cli

OWN = "own-key-7Q2sVx9LmN4pZ"
JUDGE = "judge-key-3Rt6Yu1IoP8aS"
OPENAI_CR = "sk-openai-8Hd3Kq1ZrT5wE\r"
CRLF = "crlf-key-4Jk8Mn2Bv6CxD\r\n"
HELICONE = "sk-helicone-5Gf2Hj7Kl9QwE"
HELICONE_LF = "sk-helicone-9Zx4Cv6Bn1MmR\n"
ALL_KEYS = [OWN, JUDGE, OPENAI_CR, CRLF, HELICONE, HELICONE_LF]


def seed(db: Path, n: int = 3) -> None:
    reqs = []
    for i in range(n):
        body = {"model": "m", "messages": [{"role": "system", "content": "old"},
                                           {"role": "user", "content": f"n{i}"}]}
        reqs.append(recorded_request(f"q{i}", body, f"reply(old): n{i}", prompt_id="p", at=i))
    with Store(db) as store:
        store.upsert_requests(reqs)


def forms(key: str) -> set[str]:
    """The key and the spellings an error message could give it."""
    core = key.strip()
    return {core, core[:16], repr(key)[1:-1], repr(key.encode())[2:-1]}


@pytest.fixture
def env() -> dict[str, str]:
    return {"OWN_KEY": OWN, "JUDGE_KEY": JUDGE, "OPENAI_API_KEY": OPENAI_CR,
            "CRLF_KEY": CRLF, "HELICONE_API_KEY": HELICONE, "ANTHROPIC_API_KEY": ""}


def test_keys_reach_only_their_own_hosts(tmp_path: Path, env: dict[str, str]) -> None:
    db = tmp_path / "r.db"
    seed(db)
    (tmp_path / "judge.txt").write_text("rate {output} from 1 to 10")
    runner = CliRunner(env=env)
    outputs: list[str] = []

    def run(*args: str, code: int | None = 0, extra: dict[str, str] | None = None) -> str:
        result = CliRunner(env={**env, **(extra or {})}).invoke(
            cli, ["--db", str(db), *args], obj={})
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception)
        outputs.append(result.stdout + result.stderr)
        if code is not None:
            assert result.exit_code == code, result.stdout + result.stderr
        return result.stdout + result.stderr

    with FakeProvider() as own, FakeProvider() as judge, FakeProvider() as attacker, \
            FakeHelicone(api_key=HELICONE) as helicone:
        # 1. A replay with a custom key, to the person's own server.
        out = json.loads(run("replay", "s1", "--via", own.base_url, "--api-key-env", "OWN_KEY",
                             "--json"))
        replay_id = out["replay_id"]
        assert len(own.received) == 3

        # 2. Another person's store: a stopped replay aimed at an "attacker" with our key var.
        with Store(db) as store:
            foreign = store.create_replay(ReplaySpec(
                session_id="s1", via=attacker.base_url, api_key_env="OWN_KEY"))
            store.finish_replay(foreign.id, "interrupted")
            matrix = create_matrix(store, MatrixSpec(
                session_ids=["s1"], via=attacker.base_url, api_key_env="OWN_KEY"))
            attach_scorers(store, replay_id, [JudgeScorer(
                prompt_id="p", via=attacker.base_url, api_key_env="OWN_KEY",
                template="rate {output}")])
        refused = run("replay", "--resume", foreign.id, code=1)
        assert refused.count("\n") == 1 and f"--via {attacker.base_url}" in refused
        assert "--api-key-env OWN_KEY" in refused
        refused = run("matrix", "--resume", matrix.id, code=1)
        assert refused.count("\n") == 1 and f"--via {attacker.base_url}" in refused
        assert attacker.received == []
        # Named again by the person resuming, it goes where they say.
        run("replay", "--resume", foreign.id, "--via", own.base_url, "--api-key-env", "OWN_KEY")
        assert len(own.received) == 6

        # 3. A stored judge names the attacker and our key variable: the judge call carries
        # no key (only a judge named on this command line gets one).
        run("score", replay_id)
        assert attacker.received and all("authorization" not in r.headers
                                         for r in attacker.received)
        run("score", replay_id, "--judge", f"p={tmp_path / 'judge.txt'}", "--judge-via",
            judge.base_url, "--judge-key-env", "JUDGE_KEY", code=None)

        # 4. Keys with a trailing CR/LF are refused without being echoed; nothing is sent.
        before = len(own.received)
        out = run("replay", "s1", "--via", own.base_url, "--api-key-env", "CRLF_KEY", code=1)
        assert "$CRLF_KEY ends with a line break" in out
        assert len(own.received) == before
        # Recorded URLs (api.openai.com): refused up front, naming the variable, not the key.
        out = run("replay", "s1", "--json", code=1)
        assert "$OPENAI_API_KEY ends with a line break" in out and "nothing was sent" in out
        assert "--via local" in out and OPENAI_CR.strip() not in out
        # An unset provider key is named with the host that needs it.
        out = run("replay", "s1", code=1, extra={"OPENAI_API_KEY": ""})
        assert "$OPENAI_API_KEY is not set (needed by api.openai.com)" in out
        # A named key never travels in clear text to another machine.
        out = run("replay", "s1", "--via", "http://attacker.example", "--api-key-env",
                  "OWN_KEY", code=1)
        assert "clear text" in out

        # 5. Pull: the Helicone key goes to Helicone only; a key with a newline is refused.
        run("pull", "--session", "none", "--helicone-url", helicone.url)
        out = run("pull", "--helicone-url", helicone.url, code=1,
                  extra={"HELICONE_API_KEY": HELICONE_LF})
        assert "HELICONE_API_KEY ends with a line break" in out

        # 6. Exports of every replay.
        exports = []
        for fmt in ("md", "html", "json"):
            target = tmp_path / f"export.{fmt}"
            run("export", replay_id, "-o", str(target))
            exports.append(target.read_text())

        logs = {
            "own": [r.headers for r in own.received],
            "judge": [r.headers for r in judge.received],
            "attacker": [r.headers for r in attacker.received],
            "helicone": [r.headers for r in helicone.all_recorded()],
        }
    assert runner  # the same environment throughout
    assert any(h.get("authorization") == f"Bearer {OWN}" for h in logs["own"])
    assert any(h.get("authorization") == f"Bearer {JUDGE}" for h in logs["judge"])
    assert any(h.get("authorization") == f"Bearer {HELICONE}" for h in logs["helicone"])
    home = {OWN: "own", JUDGE: "judge", HELICONE: "helicone"}
    for server, headers in logs.items():
        text = json.dumps(headers)
        for key in ALL_KEYS:
            if home.get(key) == server:
                continue
            assert not any(f in text for f in forms(key)), (server, key)
    files = [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.glob("r.db*")]
    for text in [*files, *exports, *outputs]:
        for key in ALL_KEYS:
            assert not any(f in text for f in forms(key)), key


def test_resume_target_is_named_by_the_person_resuming() -> None:
    stored = ReplayTarget(via="https://llm.example/v1", api_key_env="OWN_KEY",
                          allow_hosts=["h.example"])
    with pytest.raises(TargetRefused, match="--via https://llm.example/v1 --api-key-env OWN_KEY"):
        resume_target(stored)
    named = resume_target(stored, via="https://llm.example/v1", api_key_env="OWN_KEY")
    assert named.api_key_env == "OWN_KEY" and named.allow_hosts == []
    assert resume_target(ReplayTarget(via="helicone", api_key_env=None)).via == "helicone"
    with pytest.raises(TargetRefused, match="--allow-host h.example"):
        resume_target(ReplayTarget(allow_hosts=["h.example"]))
    # The stored key variable is never carried over, even for a built-in target.
    assert resume_target(ReplayTarget(via="original")).api_key_env is None


def test_custom_key_only_over_https_or_loopback() -> None:
    env = {"K": OWN}
    for url in ("http://127.0.0.1:9/v1", "http://localhost:9", "https://llm.example"):
        assert credentials_for(url + "/chat/completions", env, custom_base=url,
                               custom_key_env="K") == {"Authorization": f"Bearer {OWN}"}
    with pytest.raises(TargetRefused, match="clear text"):
        credentials_for("http://10.0.0.5/v1/chat/completions", env,
                        custom_base="http://10.0.0.5", custom_key_env="K")


def test_key_problems_never_echo_the_key() -> None:
    for bad in (CRLF, OPENAI_CR, " lead-key-123456", "ключ-1234567", "a\x00b-12345678"):
        problem = key_problem(bad)
        assert problem and bad.strip() not in problem
    assert key_problem(OWN) is None


def test_redaction_catches_escaped_and_partial_forms() -> None:
    scrub = Redactor([CRLF, OWN])
    samples = [
        f"Illegal header value b'Bearer {CRLF.strip()}\\r\\n'",
        repr(f"Bearer {CRLF}"),
        json.dumps({"h": CRLF}),
        f"url?key={OWN[:5]}%2D{OWN[6:]}".replace("%2D", "-"),
        f"https://x/?k={OWN}",
        f"truncated: {OWN[:14]}",
        f"{CRLF.strip()}",
    ]
    for sample in samples:
        cleaned = scrub(sample)
        assert OWN[:12] not in cleaned and CRLF.strip()[:12] not in cleaned, cleaned
    assert redact({"a": [f"x {OWN} y"]}, [OWN]) == {"a": ["x *** y"]}
    assert redact(b"k=" + OWN.encode(), [OWN]) == "k=***"


def test_resume_refused_while_its_process_is_alive(tmp_path: Path) -> None:
    """Two writers: a replay still running in another live process is not resumed."""
    import os

    db = tmp_path / "w.db"
    seed(db, 1)
    with Store(db) as store:
        running = store.create_replay(ReplaySpec(session_id="s1", via="helicone"))
        store.execute("UPDATE replays SET owner_pid = ? WHERE id = ?", (os.getppid(), running.id))
    with FakeProvider() as server:
        result = CliRunner().invoke(cli, ["--db", str(db), "replay", "--resume", running.id,
                                          "--via", server.base_url], obj={})
        assert result.exit_code == 1 and server.received == []
    assert result.stderr.count("\n") == 1
    assert f"still running in process {os.getppid()}" in result.stderr
