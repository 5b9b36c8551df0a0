"""The addresses a file has had so far, and in which row: for writers without a faster way."""

from __future__ import annotations

from sqlalchemy import Connection, text

from nurture.store import bulk


class SeenAddresses:
    """Exact answers from a temporary table, so memory stays flat however long the file.

    A fixed-size Bloom filter in front of it answers "certainly not seen" for almost every row
    without a query; only its rare "maybe" goes to the table.
    """

    BITS = 1 << 26  # 8 MiB: about one false "maybe" per 10,000 rows at a million rows

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.bits = bytearray(self.BITS // 8)
        conn.execute(text("DROP TABLE IF EXISTS import_seen"))
        conn.execute(
            text("CREATE TEMPORARY TABLE import_seen (email VARCHAR(320) PRIMARY KEY, row_number INTEGER)")
        )
        conn.commit()

    def _positions(self, email: str) -> tuple[int, int, int]:
        # Python's own string hash is cached on the string and stable within this process,
        # which is all the filter needs; double hashing derives three positions from it.
        h = hash(email) & 0xFFFFFFFFFFFFFFFF
        low, high = h & 0xFFFFFFFF, (h >> 32) | 1
        mask = self.BITS - 1
        return (low & mask, (low + high) & mask, (low + 2 * high) & mask)

    def _maybe_seen(self, email: str) -> bool:
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(email))

    def earlier_rows(self, emails: list[str]) -> dict[str, int]:
        """The row each of these addresses first appeared in, for those seen before."""
        maybe = list({e for e in emails if self._maybe_seen(e)})
        if not maybe:
            return {}
        placeholders, params = bulk.in_list(self.conn, "e", maybe)
        query = f"SELECT email, row_number FROM import_seen WHERE email IN {placeholders}"  # noqa: S608 - placeholders only
        return dict(bulk.execute(self.conn, query, params).all())

    def add(self, rows: list[tuple[str, int]]) -> None:
        """Remember these (address, row) pairs, each address not seen before."""
        bits = self.bits
        for email, _ in rows:
            for p in self._positions(email):
                bits[p >> 3] |= 1 << (p & 7)
        bulk.executemany(
            self.conn,
            "INSERT INTO import_seen (email, row_number) VALUES (:email, :row_number)",
            [{"email": email, "row_number": row} for email, row in rows],
        )

    def drop(self) -> None:
        if self.conn.in_transaction():
            self.conn.rollback()
        self.conn.execute(text("DROP TABLE IF EXISTS import_seen"))
        self.conn.commit()
