"""Evaluations: turn recorded and replayed outputs into numbers and compare them.

A scorer is attached to a prompt id. `ExtractScorer` pulls a number out of a response with a
regex (a session's own judge answering "Score: 7/10"); `JudgeScorer` asks an LLM to grade the
response and caches every reply by (model, rendered prompt) so re-scoring costs nothing.
Helicone scores already attached to the recorded requests are carried beside ours.

Scorers are kept with the replay (the `replay_scorers` table) so a report or a re-score
uses the same definitions; the store owns that table and the judge cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Coroutine, Mapping
from statistics import fmean
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, Field, TypeAdapter, field_validator

from core.formats import recorded_output, request_format
from core.models import LoggedRequest
from core.replay.models import SUCCEEDED, ReplayResult
from core.replay.sending import Timeouts
from core.store import Store

NUMBER_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")
DEFAULT_JUDGE_TEMPLATE = (
    "You grade the answer of an AI assistant.\n\n"
    "Request:\n{input}\n\nAnswer:\n{output}\n\n"
    "Rate the answer from 1 to 10 for correctness, relevance and clarity."
    " Reply with the number only."
)
HELICONE_API = "https://api.helicone.ai"

# -- scorers -----------------------------------------------------------------------------


class ExtractScorer(BaseModel):
    """A number pulled out of the response text by a regex (its one group, or the match)."""

    kind: Literal["extract"] = "extract"
    prompt_id: str
    pattern: str
    name: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from None
        if compiled.groups > 1:
            raise ValueError(f"regex {value!r} must have at most one group")
        return value

    @property
    def label(self) -> str:
        return self.name or f"extract:{self.prompt_id}"

    def extract(self, text: str) -> float | None:
        """The score in `text`, or None when the response carries none."""
        match = re.search(self.pattern, text or "")
        if match is None:
            return None
        raw = match.group(1) if match.re.groups else match.group(0)
        if raw is None:
            return None
        number = NUMBER_RE.search(raw)
        return float(number.group(0)) if number else None


class JudgeScorer(BaseModel):
    """An LLM-as-judge: `template` with {input}/{output}/{system} sent to an OpenAI-compatible
    endpoint; the first number of the reply is the score."""

    kind: Literal["judge"] = "judge"
    prompt_id: str
    template: str = DEFAULT_JUDGE_TEMPLATE
    via: str = "https://api.openai.com"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = None
    temperature: float = 0.0
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"judge:{self.prompt_id}"

    def render(self, *, input_text: str, output_text: str, system: str = "") -> str:
        # str.replace, not str.format: recorded texts are full of braces.
        return (self.template.replace("{input}", input_text).replace("{output}", output_text)
                .replace("{system}", system))


Scorer = Annotated[ExtractScorer | JudgeScorer, Field(discriminator="kind")]
_SCORERS = TypeAdapter(list[Scorer])


def judge_keys_of(scorers: list[ExtractScorer | JudgeScorer]) -> dict[str, str]:
    """Judge base URL -> key variable, for scorers the person running this just named."""
    return {s.via: s.api_key_env for s in scorers
            if isinstance(s, JudgeScorer) and s.api_key_env}


def parse_score_option(value: str) -> ExtractScorer:
    """`PROMPT_ID=REGEX` from the command line."""
    prompt_id, sep, pattern = value.partition("=")
    if not sep or not prompt_id.strip() or not pattern:
        raise ValueError(f"expected PROMPT_ID=REGEX, got {value!r}")
    return ExtractScorer(prompt_id=prompt_id.strip(), pattern=pattern)


def attach_scorers(store: Store, replay_id: str, scorers: list[ExtractScorer | JudgeScorer]
                   ) -> None:
    """Keep `scorers` with the replay, replacing what was attached before."""
    store.save_replay_scorers(replay_id, _SCORERS.dump_json(scorers).decode())


def attached_scorers(store: Store, replay_id: str) -> list[ExtractScorer | JudgeScorer]:
    raw = store.replay_scorers(replay_id)
    return _SCORERS.validate_json(raw) if raw else []


# -- judge calls ----------------------------------------------------------------------------


class JudgeError(RuntimeError):
    """A judge call that produced no score; the message says why."""


def judge_cache_key(model: str, prompt: str) -> str:
    return hashlib.sha256(json.dumps([model, prompt]).encode()).hexdigest()


def cached_judgement(store: Store, model: str, prompt: str) -> tuple[str, float | None] | None:
    return store.cached_judgement(judge_cache_key(model, prompt))


def first_number(text: str) -> float | None:
    match = NUMBER_RE.search(text or "")
    return float(match.group(0)) if match else None


async def judge(
    store: Store,
    scorer: JudgeScorer,
    prompt: str,
    *,
    client: httpx.AsyncClient,
    env: Mapping[str, str] | None = None,
    key_env: str | None = None,
    timeouts: Timeouts | None = None,
) -> tuple[float | None, bool]:
    """Score via the judge, from the cache when this (model, prompt) was asked before.

    `key_env` is the key variable the person running this named for the judge's base URL
    (never the one stored with the scorer). Returns (score, from_cache). Only successful
    replies are cached.
    """
    cached = cached_judgement(store, scorer.model, prompt)
    if cached is not None:
        return cached[1], True
    from core.keys import KeyInvalid, Redactor, env_secrets
    from core.replay.transport import TargetRefused, credentials_for, join_base

    env = os.environ if env is None else env
    base = scorer.via
    if base == "local":  # the bundled local model, started (or reused) on demand
        from core.local_model import LocalModelError, ensure_local_server

        try:
            base = (await ensure_local_server()).base_url
        except LocalModelError as exc:
            raise JudgeError(f"the judge needs the local model: {exc}") from None
    url = join_base(base, "openai")
    headers = {"Content-Type": "application/json"}
    redact = Redactor(env_secrets(env, [key_env]))
    try:
        headers.update(credentials_for(url, env, custom_base=base if key_env else None,
                                       custom_key_env=key_env))
    except (TargetRefused, KeyInvalid) as exc:
        raise JudgeError(f"judge call not sent: {redact(str(exc))}") from None
    body = {"model": scorer.model, "temperature": scorer.temperature,
            "messages": [{"role": "user", "content": prompt}]}
    limits = timeouts or Timeouts()
    try:
        async with asyncio.timeout(limits.total):
            response = await client.post(url, json=body, headers=headers,
                                         timeout=limits.for_httpx(stream=False))
    except (TimeoutError, httpx.TimeoutException):
        raise JudgeError(f"judge call timed out (limit {limits.total:g} s)") from None
    except httpx.HTTPError as exc:
        raise JudgeError(redact(f"judge call failed: {type(exc).__name__}: {exc}")) from None
    if response.status_code >= 400:
        detail = redact(response.text[:300])
        raise JudgeError(f"judge call failed: HTTP {response.status_code}: {detail}")
    from core.formats import format_named

    openai = format_named("openai")
    try:
        data = response.json()
    except ValueError:
        raise JudgeError("judge reply is not JSON") from None
    problem = openai.response_problem(data)
    if problem is not None:
        raise JudgeError(f"judge reply unusable: {problem}")
    try:
        reply = openai.output(data).text
    except (ValueError, TypeError, AttributeError) as exc:
        raise JudgeError(f"judge reply unusable: {type(exc).__name__}") from None
    score = first_number(reply)
    store.cache_judgement(judge_cache_key(scorer.model, prompt), scorer.model, reply, score)
    return score, False


# -- results --------------------------------------------------------------------------------


class RequestScore(BaseModel):
    """One scorer on one request: the recorded output's score beside the replayed one's."""

    request_id: str
    prompt_id: str | None = None
    session_path: str = "/"
    scorer: str | None = None  # None: a row carrying only Helicone scores
    original: float | None = None
    replay: float | None = None
    note: str | None = None  # why a score is missing
    helicone: dict[str, float] = Field(default_factory=dict)

    @property
    def delta(self) -> float | None:
        if self.original is None or self.replay is None:
            return None
        return self.replay - self.original


class ScoreSummary(BaseModel):
    """Session-level view of a set of rows; "improved" means replay score > original."""

    count: int = 0  # rows with a replay score
    mean_original: float | None = None
    mean_replay: float | None = None
    mean_delta: float | None = None
    min_original: float | None = None
    min_replay: float | None = None
    improved: int = 0
    worse: int = 0
    unchanged: int = 0
    missing: int = 0  # rows where the replayed output had no score

    @classmethod
    def of(cls, rows: list[RequestScore]) -> ScoreSummary:
        scored = [r for r in rows if r.scorer is not None]
        originals = [r.original for r in scored if r.original is not None]
        replays = [r.replay for r in scored if r.replay is not None]
        deltas = [d for r in scored if (d := r.delta) is not None]
        return cls(
            count=len(replays),
            mean_original=fmean(originals) if originals else None,
            mean_replay=fmean(replays) if replays else None,
            mean_delta=fmean(deltas) if deltas else None,
            min_original=min(originals) if originals else None,
            min_replay=min(replays) if replays else None,
            improved=sum(d > 0 for d in deltas),
            worse=sum(d < 0 for d in deltas),
            unchanged=sum(d == 0 for d in deltas),
            missing=sum(r.replay is None for r in scored),
        )


class ReplayScores(BaseModel):
    replay_id: str
    session_id: str
    scorers: list[Scorer] = Field(default_factory=list)
    rows: list[RequestScore] = Field(default_factory=list)
    summary: ScoreSummary = Field(default_factory=ScoreSummary)
    by_scorer: dict[str, ScoreSummary] = Field(default_factory=dict)
    judge_calls: int = 0  # judge requests actually sent (cache misses)

    @property
    def session_score(self) -> float | None:
        return self.summary.mean_replay

    @property
    def baseline_score(self) -> float | None:
        return self.summary.mean_original

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for row, raw in zip(self.rows, data["rows"], strict=True):
            raw["delta"] = row.delta
        return data


def request_input(request: LoggedRequest, body: Any = None) -> tuple[str, str]:
    """(last user message, system prompt) of a body, for judge templates."""
    body = request.request_body if body is None else body
    fmt = request_format(request) if isinstance(body, dict) else None
    if fmt is None:
        return "", ""
    messages = fmt.messages(body)
    users = [m.text for m in messages if m.role == "user"]
    return (users[-1] if users else ""), "\n".join(fmt.system_prompts(body))


async def score_replay(
    store: Store,
    replay_id: str,
    scorers: list[ExtractScorer | JudgeScorer] | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
    judge_concurrency: int = 4,
    judge_keys: Mapping[str, str] | None = None,
    timeouts: Timeouts | None = None,
) -> ReplayScores:
    """Score every request of a replay, original and replayed; `scorers` defaults to the
    ones attached to the replay. `judge_keys` maps a judge's base URL to the key variable
    named for it by the person running this (see `judge`)."""
    replay = store.get_replay(replay_id)
    if replay is None:
        raise ValueError(f"no replay {replay_id!r} in the store")
    if scorers is None:
        scorers = attached_scorers(store, replay_id)
    requests = store.session_requests(replay.session_id, bodies=True)
    results = store.replay_results(replay_id)
    own = client is None and any(isinstance(s, JudgeScorer) for s in scorers)
    if own:
        client = httpx.AsyncClient(timeout=(timeouts or Timeouts()).for_httpx(stream=False))
    sem = asyncio.Semaphore(max(1, judge_concurrency))
    calls = 0

    async def one(scorer: ExtractScorer | JudgeScorer, request: LoggedRequest,
                  result: ReplayResult | None, text: str, body: Any) -> tuple[float | None, str]:
        nonlocal calls
        if isinstance(scorer, ExtractScorer):
            value = scorer.extract(text)
            return value, "" if value is not None else "no score in the response"
        input_text, system = request_input(request, body)
        prompt = scorer.render(input_text=input_text, output_text=text, system=system)
        async with sem:
            assert client is not None
            try:
                value, hit = await judge(store, scorer, prompt, client=client, env=env,
                                         key_env=(judge_keys or {}).get(scorer.via),
                                         timeouts=timeouts)
            except JudgeError as exc:
                return None, str(exc)
        calls += 0 if hit else 1
        return value, "" if value is not None else "no number in the judge's reply"

    async def row(scorer: ExtractScorer | JudgeScorer, request: LoggedRequest) -> RequestScore:
        result = results.get(request.id)
        original, note_a = await one(scorer, request, None, recorded_output(request).text, None)
        note: str | None = None
        replayed: float | None = None
        if result is None:
            note = "not replayed"
        elif result.status not in SUCCEEDED:
            note = f"replay {result.status}" + (f": {result.error}" if result.error else "")
        else:
            replayed, note_b = await one(scorer, request, result, result.output_text,
                                         result.sent_body)
            note = note_b or None
        if note is None and original is None:
            note = f"original: {note_a}"
        return RequestScore(request_id=request.id, prompt_id=request.prompt_id,
                            session_path=request.session_path, scorer=scorer.label,
                            original=original, replay=replayed, note=note,
                            helicone=dict(request.scores))

    try:
        jobs: list[Coroutine[Any, Any, RequestScore]] = []
        for request in requests:
            matching = [s for s in scorers if s.prompt_id == request.prompt_id]
            jobs.extend(row(s, request) for s in matching)
        rows = list(await asyncio.gather(*jobs))
    finally:
        if own and client is not None:
            await client.aclose()
    covered = {r.request_id for r in rows}
    for request in requests:
        if request.scores and request.id not in covered:
            rows.append(RequestScore(request_id=request.id, prompt_id=request.prompt_id,
                                     session_path=request.session_path,
                                     helicone=dict(request.scores)))
    order = {r.id: n for n, r in enumerate(requests)}
    rows.sort(key=lambda r: order.get(r.request_id, 0))
    by_scorer = {s.label: ScoreSummary.of([r for r in rows if r.scorer == s.label])
                 for s in scorers}
    return ReplayScores(replay_id=replay_id, session_id=replay.session_id, scorers=scorers,
                        rows=rows, summary=ScoreSummary.of(rows), by_scorer=by_scorer,
                        judge_calls=calls)


def recorded_session_score(store: Store, session_id: str,
                           scorers: list[ExtractScorer]) -> float | None:
    """Mean extract score of a session's recorded outputs (no replay needed)."""
    values = []
    for request in store.session_requests(session_id, bodies=True):
        for scorer in scorers:
            if isinstance(scorer, ExtractScorer) and scorer.prompt_id == request.prompt_id:
                value = scorer.extract(recorded_output(request).text)
                if value is not None:
                    values.append(value)
    return fmean(values) if values else None


# -- Helicone write-back -----------------------------------------------------------------------


class ScoreWrite(BaseModel):
    helicone_request_id: str
    scores: dict[str, float]
    ok: bool = False
    error: str | None = None


def score_writes(scores: ReplayScores, helicone_ids: Mapping[str, str], *,
                 prefix: str = "reprise_") -> list[ScoreWrite]:
    """What to POST: replay scores keyed by the Helicone id of each replayed request.

    `helicone_ids` maps a recorded request id to the Helicone request id its replay was
    logged under (known only when the replay went through Helicone).
    """
    merged: dict[str, dict[str, float]] = {}
    for row in scores.rows:
        target = helicone_ids.get(row.request_id)
        if target is None or row.replay is None or row.scorer is None:
            continue
        name = prefix + re.sub(r"[^A-Za-z0-9_-]+", "_", row.scorer).strip("_")
        merged.setdefault(target, {})[name] = row.replay
    return [ScoreWrite(helicone_request_id=k, scores=v) for k, v in merged.items()]


async def write_scores_to_helicone(
    writes: list[ScoreWrite],
    *,
    api_key: str,
    api_url: str = HELICONE_API,
    client: httpx.AsyncClient | None = None,
) -> list[ScoreWrite]:
    """`POST /v1/request/{id}/score` for each write; Helicone stores numbers asynchronously."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=30.0)
    done: list[ScoreWrite] = []
    try:
        for write in writes:
            url = f"{api_url.rstrip('/')}/v1/request/{write.helicone_request_id}/score"
            try:
                response = await http.post(url, json={"scores": write.scores},
                                           headers={"Authorization": f"Bearer {api_key}"})
                payload: Any = response.json() if response.content else {}
                error = payload.get("error") if isinstance(payload, dict) else None
                ok = 200 <= response.status_code < 300 and not error
                done.append(write.model_copy(update={
                    "ok": ok, "error": None if ok else str(error or response.status_code)}))
            except (httpx.HTTPError, ValueError) as exc:
                done.append(write.model_copy(update={"error": f"{type(exc).__name__}: {exc}"}))
    finally:
        if own:
            await http.aclose()
    return done
