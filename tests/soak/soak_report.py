#!/usr/bin/env python3
"""The soak test's report (scripts/soak.sh runs it): reads the server's resource samples, ghz's JSON results and
soak_load's JSON report, prints the tables, and exits 1 when a pass/fail criterion of docs/soak.md fails.

Criteria (the reasons for each number are in docs/soak.md):
  1. every answer of every RPC is OK (errors by code are listed per RPC), and every RPC of the mix ran;
  2. RSS levels off after the warm-up: runs of at least --slope-min-seconds are judged by the least-squares
     slope (MB/h) over the samples after the warm-up, shorter runs by the growth from just after the warm-up to
     the end (MB), since a few minutes of samples cannot give a slope worth the name;
  3. threads and open files do not keep growing: the highest count in the last third of the samples after the
     warm-up stays within a tolerance of the highest count in the first third.
"""
import argparse
import csv
import json
import re
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--title", required=True)
    p.add_argument("--samples", help="CSV: elapsed_s,rss_kb,threads,fds,cpu_ticks; none: no resource section")
    p.add_argument("--seconds", type=float, required=True, help="the load's length")
    p.add_argument("--warmup", type=float, required=True, help="seconds of warm-up, excluded from the trends")
    p.add_argument("--table-every", type=float, default=5, help="seconds between rows of the printed table")
    p.add_argument("--ghz", action="append", default=[], metavar="RPC=FILE", help="a ghz JSON result")
    p.add_argument("--ghz-target", action="append", default=[], metavar="RPC=RPS", help="ghz's --rps of an RPC")
    p.add_argument("--load", help="soak_load's JSON report")
    p.add_argument("--load-expect", default="", help="comma-separated soak_load RPCs that must have run")
    p.add_argument("--note", action="append", default=[], help="a line printed under the title")
    p.add_argument("--slope-min-seconds", type=float, default=600)
    p.add_argument("--max-slope-mb-per-h", type=float, default=50)
    p.add_argument("--max-growth-mb", type=float, default=32)
    p.add_argument("--clk-tck", type=float, default=100)
    return p.parse_args()


def code_name(go_name):
    """ghz names codes as Go does (DeadlineExceeded); the report uses the canonical names (DEADLINE_EXCEEDED)."""
    if go_name == "OK":
        return "OK"
    special = {"Canceled": "CANCELLED"}
    if go_name in special:
        return special[go_name]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", go_name).upper()


def least_squares_slope(xs, ys):
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def resources(a, failures):
    """Prints the resource table and trends; appends failed criteria to `failures`."""
    samples = []
    with open(a.samples) as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#"):
                continue
            t, rss_kb, threads, fds, ticks = (float(v) for v in row[:5])
            samples.append({"t": t, "rss": rss_kb / 1024, "threads": int(threads), "fds": int(fds), "ticks": ticks})
    if len(samples) < 3:
        print("too few resource samples (is the server still running?)")
        return 1
    print(f"\nServer resources (sampled every ~5 s; a row every {a.table_every:g} s; CPU is the share of one core):")
    print(f"  {'t (s)':>7} {'RSS MB':>8} {'threads':>8} {'fds':>6} {'CPU %':>7}")
    last_printed = None
    for i, s in enumerate(samples):
        if last_printed is not None and s["t"] - last_printed["t"] < a.table_every - 0.5 and i != len(samples) - 1:
            continue
        cpu = ""
        if last_printed is not None and s["t"] > last_printed["t"]:
            cpu = f"{100 * (s['ticks'] - last_printed['ticks']) / a.clk_tck / (s['t'] - last_printed['t']):.0f}"
        print(f"  {s['t']:7.0f} {s['rss']:8.1f} {s['threads']:8d} {s['fds']:6d} {cpu:>7}")
        last_printed = s

    after = [s for s in samples if s["t"] >= a.warmup]
    if len(after) < 3:
        after = samples[-3:]
    slope = least_squares_slope([s["t"] / 3600 for s in after], [s["rss"] for s in after])
    # Growth between the averages of the first and the last few samples after the warm-up: one noisy sample
    # at either end does not decide it.
    k = max(1, min(3, len(after) // 4))
    head = sum(s["rss"] for s in after[:k]) / k
    tail = sum(s["rss"] for s in after[-k:]) / k
    growth = tail - head
    print(f"\nRSS: start {samples[0]['rss']:.1f} MB, after warm-up ({a.warmup:.0f} s) {after[0]['rss']:.1f} MB, "
          f"end {samples[-1]['rss']:.1f} MB, peak {max(s['rss'] for s in samples):.1f} MB")
    print(f"RSS after warm-up: slope {slope:+.1f} MB/h (least squares over {len(after)} samples, "
          f"{after[-1]['t'] - after[0]['t']:.0f} s); growth {growth:+.1f} MB (mean of the first {k} vs the last {k})")
    if a.seconds >= a.slope_min_seconds:
        verdict = "ok" if slope <= a.max_slope_mb_per_h else "FAIL"
        print(f"  criterion (run >= {a.slope_min_seconds:.0f} s): slope <= {a.max_slope_mb_per_h:g} MB/h: {verdict}")
        if verdict != "ok":
            failures.append(f"RSS slope after warm-up {slope:+.1f} MB/h > {a.max_slope_mb_per_h:g} MB/h")
    else:
        verdict = "ok" if growth <= a.max_growth_mb else "FAIL"
        print(f"  criterion (run < {a.slope_min_seconds:.0f} s, slope not judged): growth <= "
              f"{a.max_growth_mb:g} MB: {verdict}")
        if verdict != "ok":
            failures.append(f"RSS grew {growth:+.1f} MB after the warm-up (> {a.max_growth_mb:g} MB)")

    third = max(1, len(after) // 3)
    for what in ("threads", "fds"):
        first = max(s[what] for s in after[:third])
        last = max(s[what] for s in after[-third:])
        tolerance = max(8, int(0.2 * first))
        print(f"{what}: start {samples[0][what]}, after warm-up {after[0][what]}, end {samples[-1][what]}, "
              f"max {max(s[what] for s in samples)}; highest in the first third after warm-up {first}, "
              f"in the last third {last}")
        verdict = "ok" if last <= first + tolerance else "FAIL"
        print(f"  criterion: last-third max <= first-third max + {tolerance}: {verdict}")
        if verdict != "ok":
            failures.append(f"{what} kept growing: {first} -> {last} (tolerance {tolerance})")
    return 0


def main():
    a = parse_args()
    failures = []
    print(f"\n=== {a.title} ===")
    for note in a.note:
        print(note)

    if a.samples and resources(a, failures) != 0:
        return 1

    # --- per RPC
    rows = []
    targets = dict(t.split("=", 1) for t in a.ghz_target)
    for spec in a.ghz:
        rpc, path = spec.split("=", 1)
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError) as e:
            failures.append(f"{rpc}: no ghz result ({e})")
            continue
        codes = {code_name(c): n for c, n in (r.get("statusCodeDistribution") or {}).items()}
        lat = {int(round(d["percentage"])): d["latency"] / 1e6 for d in (r.get("latencyDistribution") or [])}
        count = r.get("count", 0)
        total_s = r.get("total", 0) / 1e9
        rate = count / total_s if total_s else 0
        rows.append((rpc, "ghz", count, rate, lat.get(50, 0.0), lat.get(99, 0.0), codes, ""))
        if rpc in targets and rate < 0.9 * float(targets[rpc]):
            print(f"warning: {rpc} ran at {rate:.1f}/s of the {targets[rpc]}/s asked for (the server or the "
                  f"machine could not keep up)")
        for message, n in (r.get("errorDistribution") or {}).items():
            print(f"  {rpc}: {n} x {message}")
    load_expect = [x for x in a.load_expect.split(",") if x]
    if a.load:
        try:
            with open(a.load) as f:
                load = json.load(f)
        except (OSError, ValueError) as e:
            load = {"rpcs": {}}
            failures.append(f"no soak_load report ({e})")
        for rpc, r in sorted(load.get("rpcs", {}).items()):
            codes = {c: int(n) for c, n in (r.get("codes") or {}).items()}
            extra = ""
            if "points" in r:
                extra = f"{r['points']:.0f} points, {r['points_per_second']:.0f}/s"
            rows.append((rpc, "soak_load", int(r.get("calls", 0)), r.get("per_second", 0), r.get("p50_ms", 0),
                         r.get("p99_ms", 0), codes, extra))
            for example in r.get("examples", []):
                print(f"  {rpc}: {example}")
        for rpc in load_expect:
            if not any(row[0] == rpc and row[1] == "soak_load" and row[2] > 0 for row in rows):
                failures.append(f"{rpc}: soak_load made no such call")
        sub = load.get("rpcs", {}).get("Subscribe")
        if "Subscribe" in load_expect and (not sub or sub.get("points", 0) <= 0):
            failures.append("Subscribe: no point was delivered to any subscription")
    print("\nPer RPC (latency of OK answers; WriteStream: send to acknowledgement of one batch; *.stream: whole "
          "streams, closed by the client every stream period; Subscribe: messages received):")
    print(f"  {'RPC':<24} {'tool':<9} {'calls':>8} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8}  codes")
    for rpc, tool, count, rate, p50, p99, codes, extra in rows:
        code_text = " ".join(f"{c}={n}" for c, n in sorted(codes.items()))
        lat50 = f"{p50:8.2f}" if p50 else f"{'-':>8}"
        lat99 = f"{p99:8.2f}" if p99 else f"{'-':>8}"
        print(f"  {rpc:<24} {tool:<9} {count:8d} {rate:7.2f} {lat50} {lat99}  {code_text}"
              + (f"  ({extra})" if extra else ""))
        if count == 0:
            failures.append(f"{rpc}: no calls")
        bad = {c: n for c, n in codes.items() if c != "OK" and n > 0}
        if bad:
            failures.append(f"{rpc}: non-OK answers " + ", ".join(f"{c}={n}" for c, n in sorted(bad.items())))

    if failures:
        print("\nRESULT: FAIL")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nRESULT: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
