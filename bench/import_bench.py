"""Import benchmark: a large JSONL export while another process writes replay results.

    python bench/import_bench.py [--rows 30000] [--reference GIT_REV]

Prints the import time and rate, and how long a concurrent writer (one small autocommit
write every 20 ms, as a running replay does) had to wait at worst. The reference in the same
run is the store's merge done the way it was before staging: every row upserted inside one
write transaction held for the whole file (`--reference` picks the git revision whose
core/store.py plays it; default: the parent of the commit that introduced staging).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.sources.files import import_files, parse_file  # noqa: E402
from core.store import Store  # noqa: E402

TEMPLATE = json.loads((ROOT / "tests/fixtures/helicone/request-query-clickhouse.page.json")
                      .read_text())["data"][0]


def write_export(path: Path, rows: int) -> None:
    with path.open("w") as handle:
        for index in range(rows):
            row = {
                **TEMPLATE,
                "request_id": f"00000000-0000-4000-8000-{index:012d}",
                "request_properties": {
                    **TEMPLATE["request_properties"],
                    "Helicone-Session-Id": f"session-{index % 500}",
                },
            }
            handle.write(json.dumps(row) + "\n")


class Writer(threading.Thread):
    """Another process's writes: one autocommit insert every 20 ms; records each wait."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.waits, self.stop = db, [], threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db, timeout=120, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (at REAL)")
        while not self.stop.is_set():
            began = time.perf_counter()
            conn.execute("INSERT INTO bench_writes VALUES (?)", (began,))
            self.waits.append(time.perf_counter() - began)
            time.sleep(0.02)
        conn.close()


def reference_store(rev: str) -> type:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:core/store.py"],
        capture_output=True, text=True, check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "reference_store.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("reference_store", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.Store


def run(label: str, export: Path, folder: Path, store_class: type | None) -> None:
    db = folder / f"{label}.db"
    (store_class or Store)(db).close()
    writer = Writer(db)
    writer.start()
    time.sleep(0.2)
    began = time.perf_counter()
    if store_class is None:
        with Store(db, busy_timeout=120) as store:
            counts = import_files(store, [export])
        imported = counts.imported
    else:  # the reference merge: parse the same way, then one long transaction
        parsed = parse_file(export)
        with store_class(db) as store:
            store._db.execute("PRAGMA busy_timeout = 120000")
            imported = store.upsert_requests(parsed.requests).imported
    elapsed = time.perf_counter() - began
    time.sleep(0.2)
    writer.stop.set()
    writer.join()
    worst = max(writer.waits) * 1000
    print(
        f"{label:>10}: {imported} rows in {elapsed:.2f} s ({imported / elapsed:,.0f} rows/s);"
        f" concurrent writer: {len(writer.waits)} writes, worst wait {worst:,.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--reference", default=None)
    args = parser.parse_args()
    rev = args.reference or subprocess.run(
        ["git", "-C", str(ROOT), "log", "--format=%H", "-S", "STAGE_BATCH_ROWS", "--reverse",
         "--", "core/store.py"],
        capture_output=True, text=True,
    ).stdout.split()[0] + "~1"
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        export = folder / "export.jsonl"
        write_export(export, args.rows)
        print(f"export: {args.rows} rows, {export.stat().st_size / 1e6:.1f} MB")
        run("reference", export, folder, reference_store(rev))
        run("staged", export, folder, None)


if __name__ == "__main__":
    main()
