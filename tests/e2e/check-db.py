#!/usr/bin/env python3
"""check-db.py - assert what the Postfix end-to-end test stored in SQLite.

Reads the databases that `bouncestat ingest` wrote for the test users and
checks that every bounce is stored exactly once (one `messages` row per DSN),
with exactly the expected recipients (`events` rows): address, action,
status, SMTP code, VERP address and, when the rules are there, the reason.
It works on a copy of each file (database and WAL), so it never leaves
root-owned -shm or -wal files beside the users' databases.  It does not
check the raw text or the dates.

Stage "report" checks the same history through `bouncestat report` and
`bouncestat show` (JSON and text), run as the owner of each database:
totals, counts per recipient and per reason, and the events of addresses.

Stage "verp" checks the database of a user whose ingest verifies signed
VERP return paths (ROUTE forward: --verp-secret-file in ~/.forward; procmail:
$BOUNCESTAT_VERP_SECRET_FILE in ~/.procmailrc): the real bounce that came back to a
signed return path is verified (events.verified = 1) and listed by
`bouncestat suppress`; the forged ones (no VERP address, no token, a wrong
token, another address's token, the victim's token with a Message-ID that
is not from the --sending-domain) are stored, unverified (verified = 0, a
warning "unverified: ..." saying why) and not listed, although with the
verification undone on a copy `suppress` would list their victim.

Usage: check-db.py STAGE FWD_DB PM_DB SOURCE_DIR CRASH_DB [BOUNCESTAT FWD_USER PM_USER]
       check-db.py verp ROUTE VERP_DB SOURCE_DIR BOUNCESTAT VERP_USER
STAGE is phase1, phase2-before-flush, phase2 or report (see postfix-e2e.sh).
"""

import collections
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

HOST = "e2e.bouncestat.test"
LOCAL_UNKNOWN = f"nosuchuser@{HOST}"


def rcpt(address, action, status, code, reasons):
    """One expected recipient; reasons is a tuple of acceptable reasons."""
    return (address, action, status, code, reasons)


UNKNOWN_LOCAL = rcpt(LOCAL_UNKNOWN, "failed", "5.1.1", None, ("userunknown",))
FULL = rcpt("full@remote.test", "failed", "5.2.2", 552, ("mailboxfull",))
NOAUTH = rcpt("noauth@remote.test", "failed", "5.7.26", 550, ("authfailure",))
BLOCKED = rcpt("blocked@remote.test", "failed", "5.7.1", 554, ("blocked",))
NOUSER = rcpt("nouser@remote.test", "failed", "5.1.1", 550, ("userunknown",))
AUTH535 = rcpt("postmaster@authfail.test", "failed", "5.7.8", 535, ("securityerror",))
BUSY_REASONS = ("ratelimited", "expired")

# Case id (from the original Message-ID) -> one list of recipients per DSN.
PHASE1_FWD = {
    "local-unknown": [[UNKNOWN_LOCAL]],
    "mailbox-full": [[FULL]],
    "unauthenticated": [[NOAUTH]],
    "spamhaus": [[BLOCKED]],
    "auth-failed": [[AUTH535]],
    "too-many-conn": [
        [rcpt("postmaster@busy.test", "delayed", "4.7.0", 421, BUSY_REASONS)],
        [rcpt("postmaster@busy.test", "failed", "4.7.0", 421, BUSY_REASONS)],
    ],
    "multi": [[FULL, BLOCKED, NOUSER, UNKNOWN_LOCAL]],
    "success": [[rcpt("ok@remote.test", "relayed", "2.0.0", 250, ("delivered",))]],
    "verp-fwd": [[NOUSER]],
}
PHASE1_PM = {"procmail-full": [[FULL]], "verp-pm": [[BLOCKED]]}
# Stage "verp": the real bounce of mail sent with a signed return path, and
# forged "user unknown" DSNs for ok@remote.test (a subscriber whose mail is
# delivered), sent to the bounce address by hand.
FORGED = rcpt("ok@remote.test", "failed", "5.1.1", 550, ("userunknown",))
VICTIM = FORGED[0]
VERP_CASES = {
    "forward": {
        "verp-signed": [[NOUSER]],
        "forged-plain": [[FORGED]],
        "forged-unsigned": [[FORGED]],
        "forged-wrongtoken": [[FORGED]],
        "forged-othertoken": [[FORGED]],
        "forged-foreignid": [[FORGED]],
    },
    "procmail": {
        "verp-signed-pm": [[NOUSER]],
        "forged-pm-wrongtoken": [[FORGED]],
    },
}
# Case -> (events.verified, words of the "unverified: ..." warning).
VERIFIED = {
    "verp-signed": (1, None),
    "verp-signed-pm": (1, None),
    "forged-pm-wrongtoken": (0, "token of the envelope recipient is wrong"),
    "forged-plain": (0, "no signed VERP envelope recipient"),
    "forged-unsigned": (0, "has no token"),
    "forged-wrongtoken": (0, "token of the envelope recipient is wrong"),
    "forged-othertoken": (0, "is not the signed VERP address"),
    "forged-foreignid": (0, "Message-ID is not from a sending domain"),
}

# The address recovered from a VERP envelope (NULL for every other case).
VERP = {"verp-fwd": "nouser@remote.test", "verp-pm": "blocked@remote.test",
        "verp-signed": "nouser@remote.test", "forged-unsigned": VICTIM,
        "forged-wrongtoken": VICTIM, "forged-othertoken": "full@remote.test",
        "forged-foreignid": VICTIM,
        "verp-signed-pm": "nouser@remote.test", "forged-pm-wrongtoken": VICTIM}
# The message kind: a DSN, except the success notice.
KIND = {"success": "delivered"}

EXPECTED = {
    "phase1": {"fwd": PHASE1_FWD, "pm": PHASE1_PM},
    "phase2-before-flush": {
        "fwd": PHASE1_FWD,
        "pm": PHASE1_PM,
        "crash": {"crash-after": [[NOAUTH]]},
    },
    "phase2": {
        "fwd": {**PHASE1_FWD, "locked-fwd": [[NOUSER]]},
        "pm": {**PHASE1_PM, "locked-pm": [[BLOCKED]]},
        "crash": {"crash-before": [[FULL]], "crash-after": [[NOAUTH]],
                  "crash-killed": [[NOUSER]]},
    },
}

FAILURES = []


def fail(text):
    FAILURES.append(text)
    print(f"check-db: FAIL: {text}", file=sys.stderr)


def open_copy(path, tmpdir):
    """Open a private copy of PATH (and its WAL); None when it does not exist."""
    if not os.path.exists(path):
        return None
    dest = os.path.join(tmpdir, os.path.basename(os.path.dirname(path)) + ".db")
    shutil.copyfile(path, dest)
    if os.path.exists(path + "-wal"):
        shutil.copyfile(path + "-wal", dest + "-wal")
    conn = sqlite3.connect(dest)
    conn.row_factory = sqlite3.Row
    return conn


def columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def pick(cols, *names):
    for name in names:
        if name in cols:
            return name
    raise KeyError(f"none of {names} in {cols}")


def stored(conn):
    """{case: [(kind, [recipient tuple...]), ...]} from one database."""
    mcols = columns(conn, "messages")
    ecols = columns(conn, "events")
    m_id = pick(mcols, "id", "message_id")
    m_msgid = pick(mcols, "orig_message_id", "original_message_id")
    e_msg = pick(ecols, "message_id", "message", "msg_id")
    e_rsn = pick(ecols, "reason")
    out = {}
    for m in conn.execute(f"SELECT * FROM messages ORDER BY {m_id}"):
        found = re.search(r"e2e\.([a-z0-9-]+)\.\d+@", m[m_msgid] or "")
        case = found.group(1) if found else f"?{m[m_id]}"
        events = [
            (e["address"], e["action"], e["status"], e["smtp_code"], e[e_rsn])
            for e in conn.execute(f"SELECT * FROM events WHERE {e_msg} = ?", (m[m_id],))
        ]
        out.setdefault(case, []).append((m["kind"], events, m["verp_address"]))
    return out


def match(got, want, check_reason):
    """True when the stored recipient GOT is the expected WANT."""
    if got[:4] != want[:4]:
        return False
    return not check_reason or got[4] in want[4]


def check_db(label, path, expected, check_reason, tmpdir):
    conn = open_copy(path, tmpdir)
    got = stored(conn) if conn is not None else {}
    n_want = sum(len(v) for v in expected.values())
    n_got = sum(len(v) for v in got.values())
    if n_got != n_want:
        fail(f"{label}: {n_got} messages stored, {n_want} expected ({sorted(got)})")
    for case in sorted(set(got) - set(expected)):
        fail(f"{label}: unexpected message(s) for case {case}: {got[case]}")
    for case, dsns in expected.items():
        have = got.get(case, [])
        if len(have) != len(dsns):
            fail(f"{label}: case {case}: {len(have)} DSNs stored, {len(dsns)} expected")
            continue
        # Pair each expected DSN with a stored one (order-free: the 421
        # delay notice and the expiry are told apart by their action).
        left = list(have)
        for want in dsns:
            hit = None
            for i, (kind, events, _) in enumerate(left):
                if len(events) == len(want) and all(
                        any(match(g, w, check_reason) for g in events) for w in want):
                    hit = i
                    break
            if hit is None:
                fail(f"{label}: case {case}: no stored DSN matches {want}; stored: {left}")
                continue
            kind, events, verp = left.pop(hit)
            if verp != VERP.get(case):
                fail(f"{label}: case {case}: VERP address {verp!r}, expected {VERP.get(case)!r}")
            if kind != KIND.get(case, "dsn"):
                fail(f"{label}: case {case}: kind {kind!r}, expected {KIND.get(case, 'dsn')!r}")
    print(f"check-db: {label}: {n_got} messages, {len(got)} cases checked")


def run_as(user, argv):
    """Runs ARGV as USER (its HOME, PATH=/usr/bin:/bin); returns its stdout."""
    home = os.path.expanduser(f"~{user}")
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "USER": user, "LANG": "C"}
    proc = subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"] + argv,
        env=env, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        fail(f"{' '.join(argv[1:])}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def failed_recipients(expected):
    """The expected bounces (failed recipients) of one database, as
    (address, reasons, case) tuples; a DSN with one counts as a message."""
    out, messages = [], 0
    for case, dsns in expected.items():
        for dsn in dsns:
            bounced = [(r[0], r[4], case) for r in dsn if r[1] == "failed"]
            out += bounced
            messages += 1 if bounced else 0
    return out, messages


def check_report(label, bouncestat, user, db, expected, check_reason):
    bounced, n_messages = failed_recipients(expected)
    per_address = collections.Counter(a for a, _, _ in bounced)
    base = [bouncestat, "report", "--db", db, "--format=json"]

    overview = json.loads(run_as(user, base) or "{}")
    totals = overview.get("totals", {})
    want = {"bounces": len(bounced), "messages": n_messages, "recipients": len(per_address)}
    got = {k: totals.get(k) for k in want}
    if got != want:
        fail(f"{label}: report totals {got}, expected {want}")

    rows = json.loads(run_as(user, base + ["--by", "recipient"]) or "{}").get("rows", [])
    got = {r["recipient"]: r["bounces"] for r in rows}
    if got != dict(per_address):
        fail(f"{label}: report --by recipient {got}, expected {dict(per_address)}")

    if check_reason:
        rows = json.loads(run_as(user, base + ["--by", "reason"]) or "{}").get("rows", [])
        got = collections.Counter({r["reason"]: r["bounces"] for r in rows})
        # Every expected bounce must be counted under one of its reasons.
        sure = collections.Counter(rs[0] for _, rs, _ in bounced if len(rs) == 1)
        maybe = collections.Counter(x for _, rs, _ in bounced if len(rs) > 1 for x in rs)
        if sum(got.values()) != len(bounced) or any(
                not sure[r] <= got[r] <= sure[r] + maybe[r] for r in set(got) | set(sure)):
            fail(f"{label}: report --by reason {dict(got)}, expected {dict(sure)} "
                 f"and {sum(maybe.values())} of {dict(maybe)}")

    # show: every event of each bounced address, and the text form of one.
    for address in sorted(per_address):
        shown = json.loads(run_as(user, [bouncestat, "show", "--db", db, "--format=json",
                                         address]) or "{}")
        events = [e for e in shown.get("events", []) if e.get("outcome") == "bounce"]
        want_cases = sorted(c for a, _, c in bounced if a == address)
        got_cases = sorted(re.sub(r"^e2e\.([a-z0-9-]+)\..*", r"\1", e.get("orig_message_id") or "")
                           for e in events)
        if got_cases != want_cases:
            fail(f"{label}: show {address}: bounces of {got_cases}, expected {want_cases}")
        want_rcpts = {(r[2], r[3]) for dsns in expected.values() for dsn in dsns
                      for r in dsn if r[0] == address and r[1] == "failed"}
        got_rcpts = {(e.get("status"), e.get("smtp_code")) for e in events}
        if got_rcpts != want_rcpts:
            fail(f"{label}: show {address}: status/code {got_rcpts}, expected {want_rcpts}")
    text = run_as(user, [bouncestat, "show", "--db", db, "full@remote.test"])
    if not re.search(r"bounce\s+5\.2\.2 \(552\)", text) or "552 5.2.2 Mailbox full" not in text:
        fail(f"{label}: show full@remote.test (text) lacks the 5.2.2 (552) bounce:\n{text}")
    print(f"check-db: {label}: report and show agree with {len(bounced)} bounces")


def run_root(argv):
    """Runs ARGV as root (on a private copy); returns its stdout."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        fail(f"{' '.join(argv[1:])}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def case_of(orig_message_id):
    found = re.search(r"e2e\.([a-z0-9-]+)\.\d+@", orig_message_id or "")
    return found.group(1) if found else None


def check_verp(route, path, bouncestat, user, check_reason, tmpdir):
    label = f"verp/{route}"
    cases = VERP_CASES[route]
    check_db(label, path, cases, check_reason, tmpdir)
    conn = open_copy(path, tmpdir)
    if conn is None:
        fail(f"{label}: no database at {path}")
        return
    for m in conn.execute("SELECT * FROM messages ORDER BY id"):
        case = case_of(m["orig_message_id"])
        if case not in cases:
            continue    # check_db named it
        want, why = VERIFIED[case]
        verified = [e["verified"] for e in
                    conn.execute("SELECT verified FROM events WHERE message_id = ?", (m["id"],))]
        if not verified or any(v != want for v in verified):
            fail(f"{label}: case {case}: events.verified {verified}, expected {want}")
        unverified = [w for w in json.loads(m["warnings"]) if w.startswith("unverified:")]
        if why is None and unverified:
            fail(f"{label}: case {case}: warnings {unverified}, expected none 'unverified:'")
        # One cause each: the others of these checks pass.
        if why is not None and (len(unverified) != 1 or why not in unverified[0]):
            fail(f"{label}: case {case}: warnings {unverified}, expected just "
                 f"'unverified: ...{why}...'")
    # The same history with the verification undone (verified NULL: not
    # checked), for the last check below.
    undone = os.path.join(tmpdir, "undone.db")
    copy = sqlite3.connect(undone)
    conn.backup(copy)
    with copy:
        copy.execute("UPDATE events SET verified = NULL")
    copy.close()
    conn.close()

    # Only the verified bounce suppresses, as the user sees it.
    listed = run_as(user, [bouncestat, "suppress", "--db", path]).split()
    if listed != [NOUSER[0]]:
        fail(f"{label}: bouncestat suppress lists {listed}, expected [{NOUSER[0]!r}]")
    # The forged DSNs are bounces that would suppress their victim but for
    # the verification: with it undone, suppress lists the victim.
    listed = run_root([bouncestat, "suppress", "--db", undone]).split()
    if sorted(listed) != sorted([NOUSER[0], VICTIM]):
        fail(f"{label}: with the verification undone, suppress lists {listed}, "
             f"expected {NOUSER[0]} and {VICTIM}: the forged DSNs prove nothing")
    if not FAILURES:
        print(f"check-db: {label}: 1 verified bounce suppresses, "
              f"{len(cases) - 1} forged one(s) unverified and do not")


def main():
    if sys.argv[1] == "verp":
        route, path, source_dir, bouncestat, user = sys.argv[2:7]
        check_reason = bool(glob.glob(os.path.join(source_dir, "rules", "*.rules")))
        with tempfile.TemporaryDirectory() as tmpdir:
            check_verp(route, path, bouncestat, user, check_reason, tmpdir)
        return 1 if FAILURES else 0
    stage, fwd, pm, source_dir = sys.argv[1:5]
    crash = sys.argv[5] if len(sys.argv) > 5 else None
    rules = glob.glob(os.path.join(source_dir, "rules", "*.rules"))
    check_reason = bool(rules)
    if not check_reason:
        print("check-db: note: no rules in the source tree, reasons are not checked")
    if stage == "report":
        bouncestat, fwd_user, pm_user = sys.argv[6:9]
        check_report("report/fwd", bouncestat, fwd_user, fwd, EXPECTED["phase2"]["fwd"],
                     check_reason)
        check_report("report/pm", bouncestat, pm_user, pm, EXPECTED["phase2"]["pm"],
                     check_reason)
        return 1 if FAILURES else 0
    paths = {"fwd": fwd, "pm": pm, "crash": crash}
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, expected in EXPECTED[stage].items():
            check_db(f"{stage}/{label}", paths[label], expected, check_reason, tmpdir)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
