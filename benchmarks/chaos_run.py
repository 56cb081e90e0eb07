"""Issue 9's no-loss target: zero lost and zero duplicated events over a chaos run of at least
10 minutes with every fault, audited against PostgreSQL.

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/chaos_run.py
     [--stations 20] [--minutes 10] [--seed 9] [--ingest-workers 2] [--baseline-minutes 1]

Real Mosquitto (ACL, passwords, persistence; restarted by the plan), `--ingest-workers`
real `waystation cloud ingest` processes (SIGKILLed and restarted by the plan), PostgreSQL
(a fresh schema), and `--stations` real agents (`waystation.harness.chaos.ChaosStation`) each
behind its own fault proxy. Every fault kind plays at least once (kill + restart,
partitions of minutes, flapping, broker restart, ingest kill, clock skew, frozen camera).

Baseline, same run: `--baseline-minutes` of the same fleet and traffic with no faults, for
the settle time and the traffic volume without chaos. Prints the fault log, the figures and
the audit's JSON line (last).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from waystation.harness.audit import render
from waystation.harness.chaos import ChaosConfig, ChaosResult, ChaosRun

PG = os.environ.get("WAYSTATION_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_schema() -> tuple[str, str]:
    schema = f"ws_chaos_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(PG).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop(schema: str) -> None:
    admin = create_engine(PG, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def one(
    args: argparse.Namespace, minutes: float, faults: bool, work: Path
) -> tuple[ChaosResult, float]:
    db_url, schema = pg_schema()
    config = ChaosConfig(
        stations=args.stations,
        minutes=minutes,
        seed=args.seed,
        db_url=db_url,
        ingest_workers=args.ingest_workers,
        workdir=work,
        visit_interval_s=args.visit_interval,
        telemetry_interval_s=5.0,
        faults_per_minute=args.faults_per_minute if faults else 0.0,
        kinds=ChaosConfig().kinds if faults else (),
        settle_timeout_s=180.0,
    )
    started = time.monotonic()
    try:
        result = ChaosRun(config, progress=lambda m: print(m, flush=True)).run()
    finally:
        drop(schema)
    return result, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--ingest-workers", type=int, default=2)
    parser.add_argument("--visit-interval", type=float, default=2.0)
    parser.add_argument("--faults-per-minute", type=float, default=3.0)
    parser.add_argument("--baseline-minutes", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    console = Console()
    root = Path(tempfile.mkdtemp(prefix="ws-chaos-"))
    base = None
    if args.baseline_minutes > 0:
        base, _ = one(args, args.baseline_minutes, False, root / "baseline")
    result, wall = one(args, args.minutes, True, root / "chaos")
    for line in result.played:
        print(f"  {line}")
    kinds = result.stats["kinds_played"]
    print(f"fault kinds played: {len(kinds)}: {', '.join(kinds)}; skipped: {result.skipped}")
    if base is not None:
        print(
            f"baseline (no faults, {args.baseline_minutes:g} min): {base.visits} visits, "
            f"journaled {base.report.journaled}, settle {base.settled_s} s, "
            f"{base.report.json_line()}"
        )
    r = result.report
    print(
        f"chaos ({args.minutes:g} min, {args.stations} stations, {args.ingest_workers} ingest): "
        f"{result.visits} visits, {len(result.played)} fault actions, journaled {r.journaled}, "
        f"settle {result.settled_s} s ({'drained' if result.drained else 'NOT drained'}), "
        f"wall {wall:.0f} s, {result.stats}"
    )
    console.print(render(r))
    print(r.json_line())


if __name__ == "__main__":
    main()
