#!/usr/bin/env python3
"""fake-smtp.py - a tiny SMTP server on 127.0.0.1 for the Postfix end-to-end test.

It answers chosen replies per recipient so that a real Postfix produces real
bounces.  It listens on loopback only, on ports the kernel picks, and writes
the port of each profile to a JSON file.  It accepts and forgets every message;
it never relays anything anywhere.  It is not a general SMTP server.

Profiles:
  rules     replies chosen by the recipient's local part (RCPT_RULES) and one
            multi-line 550 5.7.26 at the end of DATA for "noauth"
  greet421  greets with "421 4.7.0 too many connections" and hangs up
  auth535   announces AUTH and fails every attempt with 535 5.7.8

It exits on SIGTERM, or after --max-seconds (default 600) so that it never
outlives a test that was killed.

Usage: fake-smtp.py --ports-file FILE --log FILE --pidfile FILE
                    [--max-seconds N] PROFILE...
"""

import argparse
import asyncio
import json
import os
import signal
import sys

RCPT_RULES = {
    "full": "552 5.2.2 Mailbox full",
    "blocked": "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked "
    "using zen.spamhaus.org; https://www.spamhaus.org/query/ip/127.0.0.1",
    "nouser": "550 5.1.1 <{rcpt}>: Recipient address rejected: "
    "User unknown in virtual mailbox table",
}
DATA_RULES = {
    "noauth": [
        "550-5.7.26 This message does not have authentication information or fails to",
        "550-5.7.26 pass authentication checks. To best protect our users from spam, the",
        "550-5.7.26 message has been blocked. Please visit",
        "550-5.7.26 https://support.google.com/mail/answer/81126#authentication for more",
        "550 5.7.26 information. fake-smtp-bouncestat-e2e - gsmtp",
    ],
}
MAX_LINE = 4096
MAX_MESSAGE = 1 << 20
IDLE_TIMEOUT = 60

LOG = None
COUNTER = 0


def log(text):
    if LOG is not None:
        LOG.write(text + "\n")
        LOG.flush()


def local_part(arg):
    """The local part of the address in 'TO:<addr> PARAMS'."""
    start, end = arg.find("<"), arg.find(">")
    addr = arg[start + 1:end] if 0 <= start < end else arg.split(":", 1)[-1].strip()
    return addr, addr.rsplit("@", 1)[0].lower()


async def session(profile, reader, writer):
    global COUNTER
    peer = writer.get_extra_info("peername")
    if not peer or not peer[0].startswith("127."):
        writer.close()
        return

    async def reply(*lines):
        for line in lines:
            log(f"{profile} S: {line}")
            writer.write(line.encode() + b"\r\n")
        await writer.drain()

    async def readline():
        line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
        if not line:
            raise ConnectionResetError
        return line[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")

    try:
        if profile == "greet421":
            await reply("421 4.7.0 too many connections")
            return
        await reply("220 fake.e2e.test ESMTP fake-smtp")
        rcpts = []
        while True:
            line = await readline()
            log(f"{profile} C: {line}")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                lines = ["fake.e2e.test", "PIPELINING", "8BITMIME"]
                if profile == "auth535":
                    lines.append("AUTH PLAIN LOGIN")
                if verb == "HELO":
                    lines = lines[:1]
                await reply(*[f"250-{x}" for x in lines[:-1]], f"250 {lines[-1]}")
            elif verb == "AUTH":
                await reply("535 5.7.8 auth failed")
            elif verb == "MAIL":
                rcpts = []
                await reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr, local = local_part(arg)
                answer = RCPT_RULES.get(local)
                if answer and profile == "rules":
                    await reply(answer.format(rcpt=addr))
                else:
                    rcpts.append(local)
                    await reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    await reply("554 5.5.1 No valid recipients")
                    continue
                await reply("354 End data with <CR><LF>.<CR><LF>")
                size = 0
                while True:
                    data = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                    if not data:
                        raise ConnectionResetError
                    if data.rstrip(b"\r\n") == b".":
                        break
                    size += len(data)
                    if size > MAX_MESSAGE:
                        raise ConnectionResetError
                bad = [DATA_RULES[r] for r in rcpts if r in DATA_RULES]
                if bad and profile == "rules":
                    await reply(*bad[0])
                else:
                    COUNTER += 1
                    await reply(f"250 2.0.0 Ok: queued as FAKE{COUNTER:05d}")
                rcpts = []
            elif verb == "RSET":
                rcpts = []
                await reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                await reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                await reply("221 2.0.0 Bye")
                return
            else:
                await reply("502 5.5.2 Command not recognized")
    except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("profiles", nargs="+", choices=["rules", "greet421", "auth535"])
    args = ap.parse_args()
    LOG = open(args.log, "a", encoding="utf-8")

    ports = {}
    for profile in args.profiles:
        server = await asyncio.start_server(
            lambda r, w, p=profile: session(p, r, w), host="127.0.0.1", port=0)
        ports[profile] = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(ports, f)
    os.rename(tmp, args.ports_file)
    with open(args.pidfile, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    log(f"listening: {ports}")
    try:
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        log("max-seconds reached")
    log("stopping")


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
