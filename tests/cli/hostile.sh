#!/bin/bash
# hostile.sh BOUNCESTAT - the hostile input set of issue 8.
#
# tools/make-hostile writes the cases (a 60 MB message, MIME nested 10,000
# deep, 100,000 recipients, 1 MB lines, NUL bytes, invalid UTF-8, unknown
# charsets, truncations at every structural point, binary garbage, empty
# input...) and the expected outcome of each: exit code, kind, number of
# recipients, a warning.  Every case must give exactly that, as one line
# of valid UTF-8 JSON, with nothing on stderr.  `timeout` only guards
# against a hang; the time is not asserted (tools/bench-hostile measures
# how it grows).  When `bouncestat ingest` exists, every case is also
# ingested into a fresh database and must be stored: exit 0, then found
# by its content hash with its kind, size and raw bytes (or their first
# part, marked truncated, above the raw cap).
set -u
bs=$1
src=${SOURCE_DIR:?SOURCE_DIR is not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BOUNCESTAT_DB=$tmp/hostile.db    # only for the "does ingest exist" probe
# The hang guard: AddressSanitizer copies on every realloc, and GMime grows
# a header buffer in steps, so a 1 MB folded header takes seconds there.
guard=60
[ "${BOUNCESTAT_SANITIZE:-OFF}" = ON ] && guard=600
export guard

python3 "$src/tools/make-hostile" "$tmp/in" || { echo "FAIL: make-hostile"; exit 1; }
mkdir -p "$tmp/out"

while IFS=$'\t' read -r file _; do
    timeout "$guard" "$bs" parse --format=json "$tmp/in/$file" \
        >"$tmp/out/$file.json" 2>"$tmp/out/$file.err"
    echo $? >"$tmp/out/$file.rc"
done <"$tmp/in/expected.tsv"

python3 - "$tmp/in" "$tmp/out" <<'PY' || exit 1
import json, os, re, sys

indir, outdir = sys.argv[1], sys.argv[2]
keys = {"format_version", "source", "kind", "mta", "reporting_mta",
        "arrival_date", "subject", "original", "recipients", "warnings"}
passed = failed = 0
for line in open(indir + "/expected.tsv"):
    name, code, kind, rcpts, warning = line.rstrip("\n").split("\t")
    base = outdir + "/" + name
    problems = []
    rc = int(open(base + ".rc").read())
    out = open(base + ".json", "rb").read()
    err = open(base + ".err", "rb").read()
    if rc == 124:
        problems.append("no result within %s s (hang?)" % os.environ["guard"])
    elif rc != int(code):
        problems.append("exit code %d, expected %s" % (rc, code))
    if err:
        problems.append("stderr: %r" % err[:200])
    try:
        lines = out.decode("utf-8").splitlines()
        if len(lines) != 1:
            raise ValueError("%d output lines, expected 1" % len(lines))
        d = json.loads(lines[0])
        if not keys <= set(d):
            raise ValueError("keys missing: %s" % sorted(keys - set(d)))
        if d["format_version"] != 1 or not d["source"].endswith("/" + name):
            raise ValueError("format_version/source: %r %r"
                             % (d["format_version"], d["source"]))
        if kind != "-" and d["kind"] not in kind.split("|"):
            problems.append("kind %s, expected %s" % (d["kind"], kind))
        if rcpts != "-" and str(len(d["recipients"])) not in rcpts.split("|"):
            problems.append("%d recipients, expected %s"
                            % (len(d["recipients"]), rcpts))
        for want in warning.split(" && ") if warning != "-" else []:
            if not any(re.search(want, w) for w in d["warnings"]):
                problems.append("no warning /%s/ in %r" % (want, d["warnings"][:5]))
    except (UnicodeDecodeError, ValueError) as e:
        problems.append("bad output: %s" % e)
    if problems:
        failed += 1
        print("FAIL %s: %s" % (name, "; ".join(problems)))
    else:
        passed += 1
print("hostile parse: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY

# The ingest side: every case is stored.
# One database per case, so that no two cases meet as duplicates.
mkdir -p "$tmp/db"
fail=0
n=0
while IFS=$'\t' read -r file _; do
    n=$((n + 1))
    BOUNCESTAT_DB=$tmp/db/$file.db timeout "$guard" "$bs" ingest "$tmp/in/$file" \
        >/dev/null 2>"$tmp/ingest.err"
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "FAIL ingest $file: exit $rc: $(head -c 300 "$tmp/ingest.err")"
        fail=$((fail + 1))
    fi
done <"$tmp/in/expected.tsv"
[ "$fail" = 0 ] || { echo "hostile ingest: $((n - fail)) passed, $fail failed"; exit 1; }

# Every case is stored, once, with the kind parse gave, its size, and
# its raw bytes whole or (above the raw cap) their first part with
# raw_truncated set.
python3 - "$tmp/in" "$tmp/db" <<'PY'
import os, sqlite3, sys, zlib

indir, dbdir = sys.argv[1], sys.argv[2]
passed = failed = 0
for line in open(indir + "/expected.tsv"):
    name, code, kind = line.split("\t")[:3]
    data = open(os.path.join(indir, name), "rb").read()
    con = sqlite3.connect(os.path.join(dbdir, name + ".db"))
    rows = con.execute("SELECT m.kind, m.raw_size, r.raw, m.raw_truncated"
                       " FROM messages m LEFT JOIN raw_messages r"
                       " ON r.message_id = m.id").fetchall()
    con.close()
    problem = None
    if len(rows) != 1:
        problem = "%d messages stored, expected 1" % len(rows)
    else:
        got_kind, size, raw, truncated = rows[0]
        kept = zlib.decompress(raw) if raw is not None else b""
        if kind != "-" and got_kind not in kind.split("|"):
            problem = "stored as %s, expected %s" % (got_kind, kind)
        elif size != len(data):
            problem = "raw_size %d, expected %d" % (size, len(data))
        elif not truncated and kept != data:
            problem = "raw bytes differ"
        elif truncated and (len(kept) == 0 or
                            not data.startswith(os.path.commonprefix([kept, data]))
                            or len(os.path.commonprefix([kept, data])) < min(len(data), 4096)):
            problem = "truncated raw does not start with the message"
    if problem:
        failed += 1
        print("FAIL ingest %s: %s" % (name, problem))
    else:
        passed += 1
print("hostile ingest: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
