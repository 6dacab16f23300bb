# tools/lib/mta.bash - sourced by tools/install-deps and the e2e test:
# which mail server is installed.  Installing Postfix where another MTA is
# installed would make apt-get remove it, so neither ever does that.

# other_mta: print the installed packages, other than Postfix, that provide
# mail-transport-agent (exim4-daemon-light, sendmail-bin, opensmtpd, ...).
other_mta () {
    dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null |
        awk '$1 ~ /^.i/ && $2 != "postfix" && /mail-transport-agent/ { print $2 }'
}
