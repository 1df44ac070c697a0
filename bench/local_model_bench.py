"""Benchmark the local model server: startup, load time, latency and tokens/s.

Run: python bench/local_model_bench.py [-n 5] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import httpx

from core.local_model import LocalModelServer, local_runtime_available, missing_requirements

PROMPTS = [
    "Explain in a short paragraph why the sky is blue.",
    "Write a short paragraph about the history of tea.",
    "Describe, in a few sentences, how a bicycle works.",
    "Give a short paragraph of advice for learning to cook.",
    "Summarize in a paragraph what a compiler does.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=5, help="number of chat requests")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--stream", action="store_true", help="use SSE streaming")
    args = parser.parse_args(argv)

    if not local_runtime_available():
        print("local model unavailable: " + "; ".join(missing_requirements()), file=sys.stderr)
        return 1

    started = time.perf_counter()
    with LocalModelServer() as server, httpx.Client(timeout=120, trust_env=False) as client:
        startup = time.perf_counter() - started
        print(f"model:          {server.model_path}")
        print(f"server startup: {startup:.2f} s (model load {server.load_seconds:.3f} s)")
        latencies: list[float] = []
        tokens: list[int] = []
        for i in range(args.n):
            body = {
                "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                "max_tokens": args.max_tokens,
                "temperature": 0,
            }
            t0 = time.perf_counter()
            if args.stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
                completion = 0
                with client.stream(
                    "POST", f"{server.base_url}/chat/completions", json=body
                ) as response:
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if line.startswith("data: {") and '"usage": {' in line:
                            completion = json.loads(line[6:])["usage"]["completion_tokens"]
            else:
                response = client.post(f"{server.base_url}/chat/completions", json=body)
                response.raise_for_status()
                completion = response.json()["usage"]["completion_tokens"]
            elapsed = time.perf_counter() - t0
            latencies.append(elapsed)
            tokens.append(completion)
            print(f"  request {i + 1}: {completion:3d} tokens in {elapsed:.3f} s")

    total_tokens = sum(tokens)
    total_time = sum(latencies)
    print(f"median latency: {statistics.median(latencies):.3f} s")
    print(f"tokens/s:       {total_tokens / total_time:.1f} (end to end, {total_tokens} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
