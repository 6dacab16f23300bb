#!/usr/bin/env python3
"""bench-rules.py - what classification costs next to parsing.

    tools/bench-rules.py [--bin build/bouncestat] [--reps 5] [--copies 10] [--rules DIR] DIR...

Runs `bouncestat parse --format=json --no-rules` and `bouncestat parse --format=json`
(rules on) over the same messages, in one process each (every DIR given --copies times so
that start-up and rules loading are amortised), --reps times alternately, and prints the
median CPU time (user+sys) of each, the difference, and the difference as a share of the
parse time.  The issue's bar: classification under 20% of parse time.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', default='build/bouncestat')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--copies', type=int, default=10)
    ap.add_argument('--rules', default=None, help='rules directory (default: the program\'s)')
    ap.add_argument('dirs', nargs='+')
    args = ap.parse_args()

    inputs = [d for d in args.dirs for _ in range(args.copies)]
    base = [args.bin, 'parse', '--format=json']
    plain = base + ['--no-rules'] + inputs
    rules = base + (['--rules', args.rules] if args.rules else []) + inputs
    n = count_messages(plain)
    plain_t, rules_t = [], []
    for _ in range(args.reps):
        plain_t.append(cpu_seconds(plain))
        rules_t.append(cpu_seconds(rules))
    p, r = statistics.median(plain_t), statistics.median(rules_t)
    cost = r - p
    print('messages per run: %d (%s x%d)' % (n, ' '.join(args.dirs), args.copies))
    print('parse --no-rules: median %.3f s CPU (%s)' % (p, ' '.join('%.3f' % t for t in plain_t)))
    print('parse with rules: median %.3f s CPU (%s)' % (r, ' '.join('%.3f' % t for t in rules_t)))
    print('classification:   %.3f s = %.1f us/message = %.1f%% of parse time'
          % (cost, 1e6 * cost / max(n, 1), 100.0 * cost / p if p > 0 else 0.0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
