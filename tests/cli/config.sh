#!/bin/bash
# config.sh - the settings in one place: the configuration files, the
# environment and the options (file < env < option, each setting), what
# `bouncestat config` prints, a bad file as a clear error (78, and 75 for
# ingest from a pipe, so that the MTA keeps the bounce), the warning for
# a secret others can read, and the one language picker: explain and
# report answer in the same language under LANG=pl_PL.UTF-8 (installed
# as a locale or not) and under LANGUAGE.
# Usage: config.sh /path/to/bouncestat   (SOURCE_DIR, FIXTURES from CTest)
set -u
BIN=$1
SRC=${SOURCE_DIR:?}
FIX=${FIXTURES:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset BOUNCESTAT_DB BOUNCESTAT_VERP_SECRET_FILE LANGUAGE LC_ALL LC_MESSAGES
export LANG=C.UTF-8
export BOUNCESTAT_NOW=2026-11-30T12:00:00Z NO_COLOR=1
. "$(dirname "$0")/lib/harness.bash"

# json KEY FIELD: settings.KEY.FIELD of `config --format=json` in $tmp/out.
json () {
    python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["settings"][sys.argv[2]][sys.argv[3]])' \
        "$tmp/out" "$1" "$2"
}

BOUNCE=
for f in "$FIX"/postfix-real/*.eml; do BOUNCE=$f; break; done
[ -f "$BOUNCE" ] || { echo "no postfix-real fixture" >&2; exit 1; }

# --- no file -----------------------------------------------------------
export BOUNCESTAT_CONFIG=
expect_rc "config without files" 0 "$BIN" config
grep -q '^database         = .*/bouncestat/bounces.db  # default: \$XDG_DATA_HOME/bouncestat/bounces.db$' "$tmp/out"
check "config text: database, its default" $?
grep -q '^soft-count       = 3  # default: the database'"'"'s setting$' "$tmp/out"
check "config text: soft-count default" $?

# --- one file: its values, relative paths from its directory -------------
mkdir -p "$tmp/etc" "$tmp/d"
cat >"$tmp/etc/bouncestat.conf" <<'CONF'
# A comment.
[bouncestat]
database = ../d/file.db
sending-domains = mail.example;news.example
soft-count = 1
soft-days = 0
CONF
export BOUNCESTAT_CONFIG=$tmp/etc/bouncestat.conf
expect_rc "config --format=json" 0 "$BIN" config --format=json
expect "database from the file" "$(json database value)" "$tmp/d/file.db"
expect "its source" "$(json database source)" "$tmp/etc/bouncestat.conf"
expect "a list" "$(json sending-domains value)" "mail.example;news.example"
python3 -c 'import json, sys
f = json.load(open(sys.argv[1]))["files"]
assert f == [{"path": sys.argv[2], "read": True}], f' "$tmp/out" "$BOUNCESTAT_CONFIG"
check "config json: the file read" $?

# Precedence, by where ingest really writes: file < env < option.
expect_rc "ingest: the file's database" 0 "$BIN" ingest "$BOUNCE"
[ -s "$tmp/d/file.db" ]; check "file < nothing: the file's database written" $?
BOUNCESTAT_DB=$tmp/d/env.db expect_rc "ingest: \$BOUNCESTAT_DB" 0 "$BIN" ingest "$BOUNCE"
[ -s "$tmp/d/env.db" ]; check "file < env: \$BOUNCESTAT_DB written" $?
BOUNCESTAT_DB=$tmp/d/env.db expect_rc "config: env source" 0 "$BIN" config --format=json
expect "env source named" "$(json database source)" '$BOUNCESTAT_DB'
rm -f "$tmp/d/env.db"
BOUNCESTAT_DB=$tmp/d/env.db expect_rc "ingest --db" 0 "$BIN" ingest --db "$tmp/d/opt.db" "$BOUNCE"
[ -s "$tmp/d/opt.db" ] && [ ! -e "$tmp/d/env.db" ]
check "env < option: --db written, not \$BOUNCESTAT_DB" $?

# The suppression thresholds: the file's, unless an option says otherwise.
python3 "$SRC/tests/cli/make-report-db.py" "$SRC/schema.sql" "$tmp/r.db" ||
    { echo "cannot build the test database" >&2; exit 1; }
expect_rc "suppress with the file's thresholds" 0 "$BIN" suppress --db "$tmp/r.db"
grep -q '^soft2@b.example$' "$tmp/out"; check "soft-count = 1 from the file" $?
expect_rc "suppress --soft-count 3 over the file" 0 "$BIN" suppress --db "$tmp/r.db" --soft-count 3
grep -q '^soft2@b.example$' "$tmp/out"; [ $? = 1 ]; check "the option wins" $?

# sending-domains: the file's list checks the returned Message-ID (of
# bouncelab.test), --sending-domain replaces it.
verified () { # verified: the recipients' "verified" of parse's JSON
    python3 -c 'import json, sys
print(" ".join(str(r.get("verified")) for r in json.load(sys.stdin)["recipients"]))'
}
expect "sending-domains from the file: unverified" \
    "$("$BIN" parse --format=json "$BOUNCE" | verified)" False
printf '[bouncestat]\nsending-domains = other.example;bouncelab.test\n' >"$tmp/sd.conf"
expect "sending-domains from the file: verified" \
    "$(BOUNCESTAT_CONFIG=$tmp/sd.conf "$BIN" parse --format=json "$BOUNCE" | verified)" True
expect "--sending-domain over the file" \
    "$(BOUNCESTAT_CONFIG=$tmp/sd.conf "$BIN" parse --format=json --sending-domain other.example "$BOUNCE" | verified)" False

# The user's file ($XDG_CONFIG_HOME/bouncestat/config) when
# $BOUNCESTAT_CONFIG is unset.
mkdir -p "$tmp/xdg/bouncestat"
printf '[bouncestat]\ndatabase = /nowhere/user.db\n' >"$tmp/xdg/bouncestat/config"
(unset BOUNCESTAT_CONFIG; XDG_CONFIG_HOME=$tmp/xdg "$BIN" config --format=json) >"$tmp/out" 2>"$tmp/err"
expect "the user's file" "$(json database value)" /nowhere/user.db
expect "the user's file named" "$(json database source)" "$tmp/xdg/bouncestat/config"

# rules: the file's list replaces the default directories (as --rules),
# and $BOUNCESTAT_RULES_DIR (set by CTest) overrides the file.
printf '[bouncestat]\nrules = %s;%s\n' "$SRC/rules" "$tmp/nope" >"$tmp/rules.conf"
(unset BOUNCESTAT_RULES_DIR; BOUNCESTAT_CONFIG=$tmp/rules.conf "$BIN" explain 5.1.1) >"$tmp/out" 2>"$tmp/err"
[ $? = 78 ] && grep -q "$tmp/nope" "$tmp/err"; check "the file's rules directories are used" $?
BOUNCESTAT_CONFIG=$tmp/rules.conf expect_rc "env over the file's rules" 0 "$BIN" explain 5.1.1

# --- bad files: a clear error, 78; ingest from a pipe 75 -------------------
printf '[bouncestat]\ndatabse = x.db\n' >"$tmp/bad-key.conf"
BOUNCESTAT_CONFIG=$tmp/bad-key.conf expect_rc "unknown key: config" 78 "$BIN" config
grep -q "^bouncestat: $tmp/bad-key.conf: unknown key 'databse' (known: database, rules," "$tmp/err"
check "unknown key named with the file" $?
printf '[bouncestat\ndatabase = x.db\n' >"$tmp/bad-syntax.conf"
BOUNCESTAT_CONFIG=$tmp/bad-syntax.conf expect_rc "syntax error: parse" 78 "$BIN" parse "$BOUNCE"
grep -q "^bouncestat: $tmp/bad-syntax.conf: " "$tmp/err"; check "syntax error names the file" $?
printf '[bouncestat]\nsoft-count = many\n' >"$tmp/bad-value.conf"
BOUNCESTAT_CONFIG=$tmp/bad-value.conf expect_rc "bad value: suppress" 78 "$BIN" suppress --db "$tmp/r.db"
expect_err "bad value message" "bouncestat: $tmp/bad-value.conf: soft-count must be a whole number of 1 or more, not 'many'"
printf '[settings]\n' >"$tmp/bad-group.conf"
BOUNCESTAT_CONFIG=$tmp/bad-group.conf expect_rc "unknown group: report" 78 "$BIN" report --db "$tmp/r.db"
expect_err "unknown group message" "bouncestat: $tmp/bad-group.conf: unknown group [settings] (the settings are in [bouncestat])"
BOUNCESTAT_CONFIG=$tmp/bad-key.conf expect_rc "bad file: ingest PATH" 78 "$BIN" ingest --db "$tmp/x.db" "$BOUNCE"
BOUNCESTAT_CONFIG=$tmp/bad-key.conf expect_rc "bad file: ingest from a pipe exits 75" 75 \
    "$BIN" ingest --db "$tmp/x.db" <"$BOUNCE"
grep -q "unknown key 'databse'" "$tmp/err"; check "the pipe says why" $?
[ ! -e "$tmp/x.db" ]; check "nothing stored with a bad file" $?
printf '[bouncestat]\nverp = (unclosed\n' >"$tmp/bad-verp.conf"
BOUNCESTAT_CONFIG=$tmp/bad-verp.conf expect_rc "bad verp pattern in the file" 78 "$BIN" parse "$BOUNCE"
grep -q "^bouncestat: $tmp/bad-verp.conf: verp: " "$tmp/err"; check "bad verp names the file" $?

# --- the secret: a value in a file others can read is warned about -------
secret=0123456789abcdef0123456789abcdef
printf '[bouncestat]\nverp-secret = %s\n' "$secret" >"$tmp/secret.conf"
chmod 644 "$tmp/secret.conf"
printf '%s\n' "$secret" >"$tmp/secret.key"
chmod 600 "$tmp/secret.key"
"$BIN" verp --secret-file "$tmp/secret.key" --return-path b@x.example a@y.example >"$tmp/want" 2>/dev/null
BOUNCESTAT_CONFIG=$tmp/secret.conf expect_rc "verp with the file's secret" 0 \
    "$BIN" verp --return-path b@x.example a@y.example
cmp -s "$tmp/out" "$tmp/want"; check "the same token as with --secret-file" $?
grep -q "^bouncestat: warning: $tmp/secret.conf holds verp-secret and others can read it" "$tmp/err"
check "readable secret: warning" $?
chmod 600 "$tmp/secret.conf"
BOUNCESTAT_CONFIG=$tmp/secret.conf expect_rc "verp, private file" 0 \
    "$BIN" verp --return-path b@x.example a@y.example
[ ! -s "$tmp/err" ]; check "private file: no warning" $?
printf '[bouncestat]\nverp-secret-file = secret.key\n' >"$tmp/secret-file.conf"
chmod 644 "$tmp/secret-file.conf"
BOUNCESTAT_CONFIG=$tmp/secret-file.conf expect_rc "verp-secret-file (relative)" 0 \
    "$BIN" verp --return-path b@x.example a@y.example
cmp -s "$tmp/out" "$tmp/want" && [ ! -s "$tmp/err" ]
check "a secret file's path: no warning, same token" $?

# --- one language for explain and report ---------------------------------
if locale -a 2>/dev/null | grep -qi '^pl_PL'; then
    echo "# pl_PL is installed: the uninstalled case is not tested here"
fi
export BOUNCESTAT_CONFIG=
en_advice=$("$BIN" explain --format=json --lang en 5.2.2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["advice"])')
pl_advice=$("$BIN" explain --format=json --lang pl 5.2.2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["advice"])')
[ -n "$pl_advice" ] && [ "$en_advice" != "$pl_advice" ]; check "en and pl advice differ" $?
# agree WHAT ENV...: explain's language and report's advice under ENV.
agree () {
    local what=$1 want=$2; shift 2
    local lang
    lang=$(env "$@" "$BIN" explain --format=json 5.2.2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["lang"])')
    expect "$what: explain's language" "$lang" "$want"
    env "$@" "$BIN" report --db "$tmp/r.db" >"$tmp/report" 2>&1
    if [ "$want" = pl ]; then
        grep -qF "mailboxfull: $pl_advice" "$tmp/report" || fail "$what: report's advice not in Polish"
    else
        grep -qF "mailboxfull: $en_advice" "$tmp/report" || fail "$what: report's advice not in English"
    fi
}
agree "LANG=pl_PL.UTF-8" pl LANG=pl_PL.UTF-8
agree "LANGUAGE=pl" pl LANG=C.UTF-8 LANGUAGE=pl
agree "LANGUAGE=de:pl" pl LANG=C.UTF-8 LANGUAGE=de:pl
agree "LC_ALL=C over LANG=pl" en LANG=pl_PL.UTF-8 LC_ALL=C
agree "LANG=de_DE.UTF-8 (not translated)" en LANG=de_DE.UTF-8
printf '[bouncestat]\nlanguage = pl\n' >"$tmp/pl.conf"
agree "language = pl in the file" pl LANG=C.UTF-8 BOUNCESTAT_CONFIG="$tmp/pl.conf"
expect_rc "--lang over the file" 0 env BOUNCESTAT_CONFIG="$tmp/pl.conf" "$BIN" explain --lang en 5.2.2
grep -q '^advice: ' "$tmp/out"; check "--lang en over language = pl" $?

[ "$failures" = 0 ] || echo "not ok - $failures expect failures"
echo "1..$n"
[ "$fails" = 0 ] && [ "$failures" = 0 ]
