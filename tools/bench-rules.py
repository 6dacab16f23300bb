#!/usr/bin/env python3
"""bench-rules.py - what classification costs next to parsing.

    tools/bench-rules.py [--bin build/bouncestat] [--reps 7] [--copies 10] [--rules DIR] DIR...
    tools/bench-rules.py --inprocess [--build build] [--reps 7] [--rules DIR] DIR...

Runs `bouncestat parse --format=json --no-rules` and `bouncestat parse --format=json`
(rules on) over the same messages, in one process each (every DIR given --copies times so
that start-up and rules loading are amortised), --reps times alternately, and prints the
fastest and the median CPU time (user+sys) of each, and the difference as a share of the
parse time, from the fastest runs (the least disturbed on a shared machine).  The issue's
bar: classification under 20% of parse time.

--inprocess builds tools/bench-rules.c against the build's libbounce.a and times, in one
process, parsing every message (no rules) and classifying the parsed reports, alternately;
process start-up, rules loading and output are left out, and a shared machine disturbs it
less.  For a finer split, profile one run:
perf record --call-graph dwarf bouncestat parse ... and compare bounce_rules_classify
with bounce_parser_parse.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys


def cpu_seconds(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def count_messages(argv):
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    return out.count(b'\n')


def inprocess(args):
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(top, 'tools', 'bench-rules.c')
    exe = os.path.join(args.build, 'bench-rules')
    lib = os.path.join(args.build, 'src', 'lib', 'libbounce.a')
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(os.path.getmtime(src),
                                                               os.path.getmtime(lib)):
        flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'glib-2.0', 'gio-2.0',
                                'gmime-3.0', 'sqlite3', 'json-glib-1.0', 'libpsl'],
                               stdout=subprocess.PIPE, check=True, text=True).stdout.split()
        subprocess.run(['cc', '-O2', '-I', os.path.join(top, 'src', 'lib'), src, lib,
                        '-o', exe] + flags, check=True)
    rules = args.rules or os.path.join(top, 'rules')
    return subprocess.run([exe, rules, str(args.reps)] + args.dirs).returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', default='build/bouncestat')
    ap.add_argument('--reps', type=int, default=7)
    ap.add_argument('--copies', type=int, default=10)
    ap.add_argument('--rules', default=None, help='rules directory (default: the program\'s)')
    ap.add_argument('--inprocess', action='store_true')
    ap.add_argument('--build', default='build')
    ap.add_argument('dirs', nargs='+')
    args = ap.parse_args()
    if args.inprocess:
        return inprocess(args)

    inputs = [d for d in args.dirs for _ in range(args.copies)]
    base = [args.bin, 'parse', '--format=json']
    plain = base + ['--no-rules'] + inputs
    rules = base + (['--rules', args.rules] if args.rules else []) + inputs
    n = count_messages(plain)
    plain_t, rules_t = [], []
    for _ in range(args.reps):
        plain_t.append(cpu_seconds(plain))
        rules_t.append(cpu_seconds(rules))
    p, r = min(plain_t), min(rules_t)
    cost = r - p
    print('messages per run: %d (%s x%d)' % (n, ' '.join(args.dirs), args.copies))
    print('parse --no-rules: fastest %.3f s CPU, median %.3f (%s)'
          % (p, statistics.median(plain_t), ' '.join('%.3f' % t for t in plain_t)))
    print('parse with rules: fastest %.3f s CPU, median %.3f (%s)'
          % (r, statistics.median(rules_t), ' '.join('%.3f' % t for t in rules_t)))
    print('classification:   %.3f s = %.1f us/message = %.1f%% of parse time'
          % (cost, 1e6 * cost / max(n, 1), 100.0 * cost / p if p > 0 else 0.0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
