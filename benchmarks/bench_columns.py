"""Reading stage changes into numpy: the driver's rows against nurture.store.columns, µs per row.

The report's read of stage changes (``lead_id, at, id ... WHERE at <= :now ORDER BY lead_id, at, id``)
over a migrated database holding ``--rows`` changes (10 per lead, every instant with microseconds):

- ``driver rows``: the driver's tuples fetched 10,000 at a time (as ``_rows`` in
  nurture/reports/queries.py), each column then made an int64 array (instants through
  ``bulk.instant_reader``, as the report reads them today);
- ``driver rows, ints only``: the same without the instants' datetime objects (the floor of any
  row-by-row read);
- ``read_columns``: this module (SQLite in ranges of lead_id).

Each is run ``--repeat`` times and the best kept; the results are checked equal. SQLite always;
PostgreSQL with ``--postgres-url`` (a server where a throwaway database may be created):

    .venv/bin/python benchmarks/bench_columns.py --rows 2000000 --postgres-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import postgres
from sqlalchemy import Connection

from nurture.store import bulk
from nurture.store.columns import micros, read_columns
from nurture.store.engine import create_store_engine, reading
from nurture.store.migrate import upgrade

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=420)
SQL = "SELECT lead_id, at, id FROM stage_changes WHERE at <= :now ORDER BY lead_id, at, id"
KINDS = {"lead_id": "int", "at": "instant", "id": "int"}


def populate(url: str, rows: int) -> None:
    engine = create_store_engine(url)
    upgrade(engine)
    leads = rows // 10
    rnd = random.Random(1)
    with engine.begin() as conn:
        at = bulk.instants(conn)
        bulk.executemany_rows(
            conn,
            "INSERT INTO leads (id, email, email_domain, attributes, created_at, updated_at) "
            "VALUES (:id, :email, :domain, :attributes, :created, :updated)",
            [
                (i, f"{i}@example.com", "example.com", bulk.json_value(conn, {}), at(START), at(START))
                for i in range(1, leads + 1)
            ],
        )
        batch = []
        for lead in range(1, leads + 1):
            moment = START + timedelta(seconds=rnd.randrange(86400 * 30))
            for _ in range(10):
                moment += timedelta(
                    seconds=rnd.randrange(1, 86400 * 5), microseconds=rnd.randrange(1_000_000)
                )
                batch.append((lead, "lead", "mql", at(moment), "rule", "system"))
            if len(batch) >= 100_000 or lead == leads:
                bulk.executemany_rows(
                    conn,
                    "INSERT INTO stage_changes (lead_id, from_stage, to_stage, at, reason, actor) "
                    "VALUES (:lead_id, :from_stage, :to_stage, :at, :reason, :actor)",
                    batch,
                )
                batch = []
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE stage_changes")
    engine.dispose()


def driver_rows(conn: Connection, instants: bool) -> dict[str, np.ndarray]:
    params = {"now": bulk.instant(conn, NOW)}
    sql = SQL.replace(":now", "%(now)s") if conn.dialect.name == "postgresql" else SQL
    cursor = (
        conn.connection.cursor(name="bench")
        if conn.dialect.name == "postgresql"
        else conn.connection.cursor()
    )
    read = bulk.instant_reader(conn)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in KINDS}
    cursor.execute(sql, params)
    while batch := cursor.fetchmany(10_000):
        lead_id, at, id_ = zip(*batch, strict=True)
        parts["lead_id"].append(np.array(lead_id, dtype=np.int64))
        parts["id"].append(np.array(id_, dtype=np.int64))
        if instants:
            parts["at"].append(np.array([micros(read(value)) for value in at], dtype=np.int64))
    cursor.close()
    return {name: np.concatenate(found) for name, found in parts.items() if found}


def measure(url: str, label: str, repeat: int) -> None:
    engine = reading(create_store_engine(url))
    methods: dict[str, Callable[[Connection], dict[str, np.ndarray]]] = {
        "driver rows": lambda conn: driver_rows(conn, instants=True),
        "driver rows, ints only": lambda conn: driver_rows(conn, instants=False),
        "read_columns": lambda conn: read_columns(conn, SQL, KINDS, {"now": NOW}, chunk_key="lead_id"),
    }
    results = {}
    for name, method in methods.items():
        best = float("inf")
        for _ in range(repeat):
            with engine.begin() as conn:
                started = time.perf_counter()
                found = method(conn)
                best = min(best, time.perf_counter() - started)
        results[name] = found
        count = len(found["id"])
        print(
            f"{label:<11} {name:<24} {best / count * 1e6:6.3f} µs/row  ({count:,} rows, {best:.2f} s)",
            flush=True,
        )
    for name, found in results.items():
        for column, values in found.items():
            assert np.array_equal(values, results["read_columns"][column]), (name, column)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres-url")
    parser.add_argument(
        "--keep", type=Path, help="a folder to keep the SQLite database in (reused when present)"
    )
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        path = (args.keep or Path(scratch)) / f"columns_{args.rows}.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            populate(url, args.rows)
        measure(url, "SQLite", args.repeat)
    if args.postgres_url:
        admin = postgres.admin_url(args.postgres_url)
        if admin is None:
            print("PostgreSQL: no server answers at --postgres-url")
            return
        name = f"bench_columns_{args.rows}"
        pg_url = postgres.create_database(admin, name)
        try:
            populate(pg_url, args.rows)
            measure(pg_url, "PostgreSQL", args.repeat)
        finally:
            postgres.drop_database(admin, name)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)


if __name__ == "__main__":
    main()
