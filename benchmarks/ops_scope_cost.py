"""What scoped ops accounts cost: request latency of the ops lists for a union account and for
a partner-scoped one, and the live stream's poll with more scopes listening.

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/ops_scope_cost.py
     [--stations 10000] [--repeat 20]

A SQLite registry of N stations (firmware_sim's generator, four cities, its operator names);
the partner account is scoped to the most common operator. Through the app in process
(`TestClient`, no network), median and p95 over `repeat` requests of `GET /api/v1/ops/fleet`,
`/stations?limit=100`, `/map/stations` and one station page; and `poll_scoped` (one database
poll of `GET /api/v1/ops/live`) with the union alone and with the union plus four partner
scopes listening (the poll computes one fleet summary per distinct scope).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlmodel import Session

from cloud.api.ops_live import _Snapshot, poll_scoped
from cloud.auth import Role, issue_token, passwords
from cloud.auth.scope import ALL, make_scope
from cloud.auth.users import add_user
from cloud.clock import utcnow
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv

CITIES = ("shenzhen", "beijing", "shanghai", "hangzhou")
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway account in a temp database


def _times(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    passwords.HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scope.db'}"
        engine = make_engine(url)
        init_db(engine)
        per_city = args.stations // len(CITIES)
        records = [r for c in CITIES for r in make_records(per_city, seed=3, city=c)]
        import_csv(engine, write_registry_csv(records, Path(tmp) / "registry.csv"))
        common = collections.Counter(r.operator for r in records).most_common(5)
        top = common[0][0]
        mine = sum(1 for r in records if r.operator == top)
        with Session(engine) as s:
            add_user(s, "union", Role.VIEWER, PASSWORD, now=utcnow())
            add_user(s, "partner", Role.VIEWER, PASSWORD, now=utcnow(), scope=make_scope([top]))
            s.commit()
        heads = {
            who: {"Authorization": f"Bearer {issue_token(engine, who)}"}
            for who in ("union", "partner")
        }
        sid = next(r.id for r in records if r.operator == top)
        print(f"{len(records)} stations; partner scope: {top!r} ({mine} stations)")
        print("| request | union median / p95 ms | partner median / p95 ms |")
        print("|---|---|---|")
        with TestClient(create_app(Settings(db=url, index_refresh_s=0))) as client:
            for path in (
                "/api/v1/ops/fleet",
                "/api/v1/ops/stations?limit=100",
                "/api/v1/ops/map/stations",
                f"/api/v1/ops/stations/{sid}",
            ):
                cells = []
                for who in ("union", "partner"):
                    r = client.get(path, headers=heads[who])
                    assert r.status_code == 200, (path, r.text)
                    med, p95 = _times(
                        lambda p=path, h=heads[who]: client.get(p, headers=h), args.repeat
                    )
                    cells.append(f"{med:.1f} / {p95:.1f}")
                print(f"| `GET {path.split('?')[0]}` | {cells[0]} | {cells[1]} |")
        scopes = {ALL} | {make_scope([op]) for op, _n in common[1:5]}
        for label, listening in (("union only", {ALL}), ("union + 4 partners", scopes)):
            snap = _Snapshot()
            poll_scoped(engine, snap, listening)  # the baseline
            med, p95 = _times(lambda ls=listening, sn=snap: poll_scoped(engine, sn, ls), 10)
            print(f"| live poll, {label} | {med:.1f} / {p95:.1f} | |")
        engine.dispose()


if __name__ == "__main__":
    main()
