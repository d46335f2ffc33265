#!/usr/bin/env python3
"""bench/trace_tasks.py: the dashboard page's costliest main-thread tasks in
Chrome traces kept by bench/dashboard_bench.mjs (TRACE_DIR=DIR, best with
TRACE_CATS=devtools.timeline,v8), run by hand; asserts nothing. For each
trace: the N tasks that took the most CPU, whether each came during the load
(before the every-chart mark) or the live updates, its wall and CPU time in
ms, the ms from the page's first task, and the CPU of what it did (Layout,
EvaluateScript, v8.callFunction, a GC...).
  python3 bench/trace_tasks.py [-n N] DIR/trace*.json
With --frames, instead, each trace's rendering work during the load: how many
layouts, style recalculations and paints, and how many tasks held a small
layout (under 100 objects: a frame for a few elements changed, not for the
table), with their CPU in ms. Counts, unlike times, hold on a busy machine.
"""
import argparse
import collections
import json

# what a task did, by the trace events nested in it (their CPU time)
KINDS = ('Layout', 'UpdateLayoutTree', 'Paint', 'EvaluateScript', 'v8.callFunction', 'MinorGC', 'MajorGC',
         'ParseHTML', 'v8.compile')


def script_of(e):
    """An event's name; an EvaluateScript's with its file (none: a script
    without a URL, such as playwright's own, injected for the bench's
    waits)."""
    if e['name'] != 'EvaluateScript':
        return e['name']
    url = ((e.get('args') or {}).get('data') or {}).get('url') or ''
    return f"EvaluateScript({url.rsplit('/', 1)[-1] or 'no URL'})"


def main_thread(path):
    """The every-chart mark and the page's main-thread spans, or an error
    line."""
    events = json.load(open(path))['traceEvents']
    mark = next((e for e in events if e.get('name') == 'kestrel:charts-drawn'), None)
    if mark is None:
        return None, f'no kestrel:charts-drawn mark in {path}'
    pid = mark['pid']
    main = {e['tid'] for e in events if e.get('name') == 'thread_name' and e['pid'] == pid
            and e['args'].get('name') == 'CrRendererMain'}
    spans = [e for e in events if e.get('pid') == pid and e.get('tid') in main and e.get('ph') == 'X']
    if not any(e['name'] == 'RunTask' for e in spans):
        return None, f'no main-thread tasks in {path}'
    return mark, spans


def frames_of(path):
    """The load's layouts, style recalculations, paints and small-layout
    tasks (count, CPU ms), in one line."""
    mark, spans = main_thread(path)
    if mark is None:
        return spans
    load = [e for e in spans if e['ts'] < mark['ts']]
    count = collections.Counter(e['name'] for e in load)
    tasks = [e for e in load if e['name'] == 'RunTask']
    small = {id(t): t for e in load if e['name'] == 'Layout'
             and ((e.get('args') or {}).get('beginData') or {}).get('dirtyObjects', 0) < 100
             for t in tasks if t['ts'] <= e['ts'] <= t['ts'] + t['dur']}
    cpu = sum(t.get('tdur', 0) for t in small.values()) / 1000
    return (f"layouts {count['Layout']}, style recalculations {count['UpdateLayoutTree']}, paints {count['Paint']}; "
            f"tasks with a small layout {len(small)}, CPU {cpu:.0f}")


def tasks_of(path, n):
    mark, spans = main_thread(path)
    if mark is None:
        return [spans]
    tasks = [e for e in spans if e['name'] == 'RunTask']
    first = min(t['ts'] for t in tasks)
    lines = []
    for t in sorted(tasks, key=lambda e: -e.get('tdur', 0))[:n]:
        cpu = collections.Counter()
        for e in spans:
            if e['name'] in KINDS and e['ts'] >= t['ts'] and e['ts'] + e['dur'] <= t['ts'] + t['dur']:
                cpu[script_of(e)] += e.get('tdur', 0)
        what = ' '.join(f'{k}={v / 1000:.0f}' for k, v in cpu.most_common(3)) or '(no event of those named)'
        lines.append(f"{'load' if t['ts'] < mark['ts'] else 'live'} at {(t['ts'] - first) / 1000:.0f}: "
                     f"wall {t['dur'] / 1000:.0f}, CPU {t.get('tdur', 0) / 1000:.0f}  {what}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=5, help='tasks per trace (default 5)')
    ap.add_argument('--frames', action='store_true', help="the load's rendering work, counted")
    ap.add_argument('traces', nargs='+')
    args = ap.parse_args()
    for path in args.traces:
        if args.frames:
            print(f'{path}: {frames_of(path)}')
            continue
        print(path)
        for line in tasks_of(path, args.n):
            print('  ' + line)


if __name__ == '__main__':
    main()
