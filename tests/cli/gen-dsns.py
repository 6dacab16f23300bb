#!/usr/bin/env python3
"""gen-dsns.py - writes N distinct RFC 3464 bounces for the ingest tests.

    gen-dsns.py --count N --prefix P --dir DIR    one file per message
    gen-dsns.py --count N --prefix P --mbox FILE  one mbox file

Message i bounces user-P-i@example.com; every message differs (its
Message-ID and recipient), so each one is stored once.
"""
import argparse
import os

TEMPLATE = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
Date: Tue, 03 Nov 2026 10:00:00 +0100
Message-ID: <dsn-{p}-{i}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
  boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

I could not deliver your message.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Tue, 03 Nov 2026 09:59:00 +0100

Final-Recipient: rfc822; user-{p}-{i}@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 no such user

--BOUNDARY
Content-Type: text/rfc822-headers

Message-ID: <orig-{p}-{i}@example.org>
From: sender@example.org
To: user-{p}-{i}@example.com
Subject: hello {i}
X-Campaign-Id: campaign-{p}

--BOUNDARY--
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--prefix", default="m")
    ap.add_argument("--dir")
    ap.add_argument("--mbox")
    a = ap.parse_args()
    if a.dir:
        os.makedirs(a.dir, exist_ok=True)
        for i in range(a.count):
            with open(os.path.join(a.dir, "%s-%06d.eml" % (a.prefix, i)), "w") as f:
                f.write(TEMPLATE.format(p=a.prefix, i=i))
    if a.mbox:
        with open(a.mbox, "w") as f:
            for i in range(a.count):
                f.write("From MAILER-DAEMON  Tue Nov  3 10:00:00 2026\n")
                f.write(TEMPLATE.format(p=a.prefix, i=i))
                f.write("\n")


if __name__ == "__main__":
    main()
