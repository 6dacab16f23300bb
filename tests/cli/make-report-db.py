#!/usr/bin/env python3
# make-report-db.py - builds the small database tests/cli/report.sh
# checks, straight from schema.sql (every version), with python3's
# sqlite3: usage `make-report-db.py SCHEMA.sql OUT.db`.
#
# Each event below is one recipient of one bounce message; times are UTC.
# The addresses name the suppression case they test (defaults: 3 soft
# bounces over at least 7 days; hard recipient-side reasons at once).
import re
import sqlite3
import sys

# (message, time, address, outcome, reason, hard, status, smtp_code,
#  diagnostic, mta, orig_from, campaign, remote_mta)
EVENTS = [
    # A hard, recipient-side bounce: suppressed at once.
    (1, "2026-11-20T10:00:00Z", "hard@a.example", "bounce", "userunknown", 1,
     "5.1.1", 550, 'smtp; 550 5.1.1 "hard" unknown, sorry', "postfix",
     "News <news@shop.example>", "nov-sale", "mx.a.example"),
    # Three soft bounces 8 days apart: suppressed (soft).
    (2, "2026-11-01T08:00:00Z", "soft3over@b.example", "bounce", "mailboxfull",
     0, "4.2.2", 452, "smtp; 452 4.2.2 mailbox full", "exim",
     "News <news@shop.example>", "oct-news", "mx.b.example"),
    (3, "2026-11-05T08:00:00Z", "soft3over@b.example", "bounce", "mailboxfull",
     0, "4.2.2", 452, "smtp; 452 4.2.2 mailbox full", "exim",
     "News <news@shop.example>", "nov-sale", "mx.b.example"),
    (4, "2026-11-09T08:00:00Z", "soft3over@b.example", "bounce", "mailboxfull",
     0, "4.2.2", 452, "smtp; 452 4.2.2 mailbox full", "exim",
     "News <news@shop.example>", "nov-sale", "mx.b.example"),
    # Three soft bounces only 4 days apart: not (yet) suppressed.
    (5, "2026-11-01T09:00:00Z", "soft3under@b.example", "bounce",
     "mailboxfull", 0, "4.2.2", 452, "smtp; 452 4.2.2 over quota", "exim",
     "News <news@shop.example>", "oct-news", "mx.b.example"),
    (6, "2026-11-03T09:00:00Z", "soft3under@b.example", "bounce",
     "mailboxfull", 0, "4.2.2", 452, "smtp; 452 4.2.2 over quota", "exim",
     "News <news@shop.example>", "nov-sale", "mx.b.example"),
    (7, "2026-11-05T09:00:00Z", "soft3under@b.example", "bounce",
     "mailboxfull", 0, "4.2.2", 452, "smtp; 452 4.2.2 over quota", "exim",
     "News <news@shop.example>", None, "mx.b.example"),
    # Two soft bounces 10 days apart: too few.
    (8, "2026-11-02T07:00:00Z", "soft2@b.example", "bounce", "mailboxfull", 0,
     "4.2.2", 452, "smtp; 452 4.2.2 full", "exim", "Shop, Inc <shop@shop.example>",
     None, "mx.b.example"),
    (9, "2026-11-12T07:00:00Z", "soft2@b.example", "bounce", "mailboxfull", 0,
     "4.2.2", 452, "smtp; 452 4.2.2 full", "exim", "Shop, Inc <shop@shop.example>",
     None, "mx.b.example"),
    # Sender-side: a hard "blocked" and three soft ones over 10 days: the
    # sender's problem, never suppressed.
    (10, "2026-11-10T12:00:00Z", "sender@c.example", "bounce", "blocked", 1,
     "5.7.1", 554, "smtp; 554 5.7.1 blocked by RBL", "postfix",
     "News <news@shop.example>", "nov-sale", "mx.c.example"),
    (11, "2026-11-11T12:00:00Z", "sender@c.example", "bounce", "blocked", 0,
     "4.7.1", 421, "smtp; 421 4.7.1 try later", "postfix",
     "News <news@shop.example>", "nov-sale", "mx.c.example"),
    (12, "2026-11-16T12:00:00Z", "sender@c.example", "bounce", "blocked", 0,
     "4.7.1", 421, "smtp; 421 4.7.1 try later", "postfix",
     "News <news@shop.example>", "nov-sale", "mx.c.example"),
    (13, "2026-11-21T12:00:00Z", "sender@c.example", "bounce", "blocked", 0,
     "4.7.1", 421, "smtp; 421 4.7.1 try later", "postfix",
     "News <news@shop.example>", "nov-sale", "mx.c.example"),
    # A hard bounce, then a delivery: cleared.
    (14, "2026-11-02T10:00:00Z", "redeemed@a.example", "bounce", "userunknown",
     1, "5.1.1", 550, "smtp; 550 5.1.1 no such user", "postfix",
     "News <news@shop.example>", "oct-news", "mx.a.example"),
    (15, "2026-11-06T10:00:00Z", "redeemed@a.example", "delivered", "delivered",
     0, "2.0.0", 250, "smtp; 250 ok", "rfc3464", "News <news@shop.example>",
     None, "mx.a.example"),
    # A delivery, then a hard bounce: suppressed.
    (16, "2026-11-01T10:00:00Z", "relapsed@a.example", "delivered",
     "delivered", 0, "2.0.0", 250, "smtp; 250 ok", "rfc3464",
     "News <news@shop.example>", None, "mx.a.example"),
    (17, "2026-11-25T10:00:00Z", "relapsed@a.example", "bounce", "hostunknown",
     1, "5.1.2", 550, "smtp; 550 5.1.2 host unknown", "postfix",
     "News <news@shop.example>", "nov-sale", "mx.a.example"),
    # One message, two recipients at a sub-domain of a.example; a delay
    # notice (not a bounce) for one of them.
    (18, "2026-11-28T06:00:00Z", "x@mail.a.example", "bounce", "suspend", 1,
     "5.2.1", 550, "smtp; 550 5.2.1 account disabled", "qmail",
     "News <news@shop.example>", "nov-sale", "mx.mail.a.example"),
    (18, "2026-11-28T06:00:00Z", "y@mail.a.example", "bounce", "suspend", 1,
     "5.2.1", 550, "smtp; 550 5.2.1 account disabled", "qmail",
     "News <news@shop.example>", "nov-sale", "mx.mail.a.example"),
    (19, "2026-11-29T06:00:00Z", "y@mail.a.example", "delay", "expired", 0,
     "4.4.7", None, "smtp; delayed", "postfix", "News <news@shop.example>",
     None, None),
]

REGISTRABLE = {"mail.a.example": "a.example"}


def main():
    schema = open(sys.argv[1], encoding="utf-8").read()
    version = len(re.findall(r"(?m)^-- @version \d+", schema))
    db = sqlite3.connect(sys.argv[2])
    db.executescript(schema)
    db.execute("PRAGMA user_version = %d" % version)
    seen = set()
    positions = {}
    for (msg, t, addr, outcome, reason, hard, status, code, diag, mta,
         orig_from, campaign, remote) in EVENTS:
        if msg not in seen:
            seen.add(msg)
            db.execute("INSERT INTO messages (id, content_hash, received_at,"
                       " source, kind, mta, orig_from, orig_subject,"
                       " orig_message_id, raw_size)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (msg, "%064x" % msg, t, "test:%d" % msg,
                        "delivered" if outcome == "delivered" else "dsn", mta,
                        orig_from, "Offer %d" % msg, "<m%d@shop.example>" % msg,
                        100))
            if campaign is not None:
                db.execute("INSERT INTO message_headers VALUES (?,?,?)",
                           (msg, "x-campaign-id", campaign))
            db.execute("INSERT INTO message_headers VALUES (?,?,?)",
                       (msg, "list-id", "list-%d" % (msg % 2)))
        pos = positions.get(msg, 0)
        positions[msg] = pos + 1
        domain = addr.split("@")[1]
        db.execute("INSERT INTO events (message_id, position, address, domain,"
                   " registrable_domain, action, outcome, status, smtp_code,"
                   " diagnostic, remote_mta, reason, hard, permanent, rule,"
                   " event_time, event_time_source)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'last_attempt')",
                   (msg, pos, addr, domain, REGISTRABLE.get(domain, domain),
                    {"bounce": "failed", "delay": "delayed"}.get(outcome,
                                                                 outcome),
                    outcome, status, code, diag, remote, reason, hard,
                    1 if status.startswith("5") else 0,
                    "test-" + reason, t))
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
