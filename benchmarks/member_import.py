"""Bulk enrolment at city-union scale: `waystation members import` of 300,000 members.

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/member_import.py [--n 300000]
     [--db sqlite,postgresql] [--pg URL]

Each measurement is a fresh process (so its peak RSS is its own, read from `wait4`) on a fresh
database: SQLite in a temp file, PostgreSQL in a new schema ($WAYSTATION_TEST_PG or the test
database). Measured:
- `import`: the real command, end to end — read and check the CSV, create members with a
  one-time code each, write the codes CSV (mode 0600), audit, commit;
- `re-run`: the same file again (nothing changes, nothing is written);
- baseline, same run: the driver's own `executemany` of the same 300,000 member rows
  (values precomputed, one transaction) — what inserting the rows alone costs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INSERT = (
    "INSERT INTO member (member_id, branch, status, flags, valid_until, enrol_code_hash, "
    "enrol_code_expires, created_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


def roster(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["member_id", "branch", "staff", "mother_baby", "valid_until"])
        for i in range(n):
            w.writerow([f"U{i:08d}", f"第{i % 40}基层工会", int(i % 50 == 0), int(i % 9 == 0),
                        "2027-12-31"])  # fmt: skip


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd[:4]} failed: {status}")
    return seconds, usage.ru_maxrss / 1024


def baseline(url: str, n: int) -> None:
    """The child that inserts `n` precomputed member rows with the driver's executemany."""
    from cloud.db import init_db, make_engine

    engine = make_engine(url)
    init_db(engine)
    now = datetime.now(UTC)
    expires = now + timedelta(days=30)
    sqlite = url.startswith("sqlite")
    stamp = (lambda d: d.replace(tzinfo=None)) if sqlite else (lambda d: d)
    rows = [
        (f"U{i:08d}", f"第{i % 40}基层工会", "active", 0, datetime(2027, 12, 31).date(),
         hashlib.sha256(f"C{i:09d}".encode()).hexdigest(), stamp(expires), stamp(now))
        for i in range(n)
    ]  # fmt: skip
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany(INSERT.format(p="?" if sqlite else "%s"), rows)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    print(f"inserted in {time.perf_counter() - start:.2f} s", file=sys.stderr)


def fresh(kind: str, work: Path, pg: str) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{work / f'{uuid.uuid4().hex[:8]}.db'}", None
    schema = f"ws_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(pg)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    return url, (admin, schema)


def drop(handle: object) -> None:
    if handle is None:
        return
    admin, schema = handle  # type: ignore[misc]
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("WAYSTATION_TEST_PG", PG_DEFAULT))
    parser.add_argument("--baseline-child", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline(args.baseline_child[0], int(args.baseline_child[1]))
        return

    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYSTATION_")}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = str(root)
    cli = [sys.executable, "-m", "waystation.cli", "members", "import"]
    print("| database | what | seconds | rows/s | peak RSS |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        file = work / "members.csv"
        roster(file, args.n)
        for kind in args.db.split(","):
            url, handle = fresh(kind, work, args.pg)
            try:
                codes = work / f"codes-{kind}.csv"
                common = [str(file), "--db", url, "--base-url", "https://ws.example.org"]
                s, mb = run([*cli, *common, "--codes-out", str(codes)], env)
                print(f"| {kind} | import {args.n:,} (+ codes CSV) | {s:.1f} | "
                      f"{args.n / s:,.0f} | {mb:.0f} MiB |")  # fmt: skip
                s2, mb2 = run([*cli, *common, "--codes-out", str(codes)], env)
                print(f"| {kind} | re-run, nothing changes | {s2:.1f} | "
                      f"{args.n / s2:,.0f} | {mb2:.0f} MiB |")  # fmt: skip
            finally:
                drop(handle)
            url, handle = fresh(kind, work, args.pg)
            try:
                me = [sys.executable, __file__, "--baseline-child", url, str(args.n)]
                b, bmb = run(me, env)
                print(f"| {kind} | baseline: executemany {args.n:,} rows (whole process) | "
                      f"{b:.1f} | {args.n / b:,.0f} | {bmb:.0f} MiB |")  # fmt: skip
                print(f"| {kind} | import ÷ baseline | {s / b:.2f}× | | |")
            finally:
                drop(handle)


if __name__ == "__main__":
    main()
