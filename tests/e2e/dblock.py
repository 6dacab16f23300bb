#!/usr/bin/env python3
"""dblock.py - hold a SQLite database locked, for the retry part of the e2e test.

Opens DB, takes BEGIN EXCLUSIVE (so no other connection can write, and in
rollback-journal mode not read either), writes READY_FILE, then sleeps until
it gets SIGTERM or MAX_SECONDS pass.  The lock goes with the process.  It does
not change the database.

Usage: dblock.py DB READY_FILE [MAX_SECONDS]
"""

import signal
import sqlite3
import sys
import time


def main():
    db, ready = sys.argv[1], sys.argv[2]
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    with open(ready, "w", encoding="utf-8") as f:
        f.write("locked\n")
    time.sleep(limit)   # bounded: never outlives a broken test by long
    conn.execute("ROLLBACK")


if __name__ == "__main__":
    main()
