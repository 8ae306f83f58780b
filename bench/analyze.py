#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# analyze.py RAW OUT "COUNTS": turns what creation.sh collected into the
# table on the terminal, OUT/results.json and OUT/creation-latency.png.

import json
import os
import statistics
import subprocess
import sys

raw, out, counts = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split()]


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary(values):
    return {"p50_ms": round(pct(values, 50) / 1000, 2), "p95_ms": round(pct(values, 95) / 1000, 2),
            "max_ms": round(max(values) / 1000, 2), "n": len(values)} if values else None


# Stage boundaries, in the order a VM goes through them.
STAGES = [
    ("overlay-prepare", "request", "prepared"),
    ("overlay mount", "prepared", "mounted"),
    ("config-inject", "chain_ready", "launched"),
    ("hypervisor start", "launched", "hypervisor"),
    ("VMM running", "hypervisor", "running"),
]
TOTALS = [("request -> hypervisor running", "request", "hypervisor"),
          ("request -> READY=1 (ReadyOn=vmm)", "request", "active")]

results = {"machine": {}, "pipeline": {}}
try:
    results["machine"] = {
        "cpus": os.cpu_count(),
        "kernel": os.uname().release,
        "cpu": next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
except (OSError, StopIteration):
    pass

for n in counts:
    # The request of each repetition, on CLOCK_MONOTONIC.
    t_req = {}
    for line in open(f"{raw}/n{n}.txt"):
        _, rep, req, offset = line.split()
        t_req[rep] = int(req) - int(offset)
    vms = {}
    rss = {}
    for line in open(f"{raw}/n{n}.units"):
        f = line.split()
        if f[0] == "unit":
            i, unit, exit_, enter, main_start, state = f[1], f[2], int(f[3]), int(f[4]), f[5], f[6]
            v = vms.setdefault(i, {"request": t_req[i.split("_")[0]], "failed": False})
            if unit.startswith("overlay-prepare@"):
                v["prepared"] = enter
            elif unit.endswith(".mount"):
                v["mounted"] = enter
            elif unit.endswith(".socket"):
                v["socket"] = enter
            else:
                v["active"] = enter
                v["launched"] = int(main_start) if main_start.isdigit() else 0
                v["failed"] = state != "active" or enter == 0
        elif f[0] == "log":
            v = vms.setdefault(f[1], {"request": t_req[f[1].split("_")[0]], "failed": False})
            key = "hypervisor" if f[3].startswith("Started") else "running"
            v.setdefault(key, int(f[2]))
        elif f[0] == "rss":
            # kB: RssAnon RssFile RssShmem; the guest's RAM is the shared memory.
            if len(f) < 6:
                continue
            comm, vals = f[2], [int(x) for x in f[3:6]]
            rss.setdefault(comm, []).append(vals[0] + vals[1])
    for v in vms.values():
        v["chain_ready"] = max(v.get("mounted", 0), v.get("socket", 0))
    stages = {}
    for name, a, b in STAGES + TOTALS:
        d = [v[b] - v[a] for v in vms.values() if not v["failed"] and v.get(a) and v.get(b)]
        stages[name] = summary(d)
    failures = sum(1 for v in vms.values() if v["failed"])
    mem = {comm: round(statistics.median(vals) / 1024, 1) for comm, vals in rss.items()}
    results["pipeline"][str(n)] = {"stages": stages, "failures": failures, "rss_mib_median_excluding_guest_ram": mem}

for name in ("debian", "generator", "guest"):
    try:
        results[name] = json.load(open(f"{raw}/{name}.json"))
    except (OSError, ValueError):
        results[name] = None

deb = results.get("debian")
if deb:
    rounds = deb.pop("rounds")
    overlay = [r["prepare_us"] + r["mount_us"] + r["inject_us"] for r in rounds]
    deb["per_creation"] = {
        "overlay-prepare": summary([r["prepare_us"] for r in rounds]),
        "mount": summary([r["mount_us"] for r in rounds]),
        "config-inject": summary([r["inject_us"] for r in rounds]),
        "all three": summary(overlay),
        "upper_bytes_apparent": rounds[-1]["upper_bytes"],
        "upper_bytes_allocated": rounds[-1]["upper_allocated"],
        "upper_inodes": rounds[-1]["upper_inodes"],
    }
    p50 = pct(overlay, 50)
    deb["speedup_vs_copy_tree"] = round(deb["copy_tree_us"] / p50, 1)
    deb["speedup_vs_copy_image"] = round(deb["copy_image_us"] / p50, 1)

os.makedirs(out, exist_ok=True)
with open(f"{out}/results.json", "w") as f:
    json.dump(results, f, indent=1)

# ---- the table ------------------------------------------------------------
print(f"machine: {results['machine']}")
for n, r in results["pipeline"].items():
    print(f"\nN = {n} VMs in one systemctl start ({r['failures']} failed)")
    print(f"  {'stage':36s} {'p50 ms':>9s} {'p95 ms':>9s} {'max ms':>9s}")
    for name, s in r["stages"].items():
        if s:
            print(f"  {name:36s} {s['p50_ms']:9.2f} {s['p95_ms']:9.2f} {s['max_ms']:9.2f}")
    print(f"  RSS beyond guest RAM (MiB, median): {r['rss_mib_median_excluding_guest_ram']}")
if deb:
    pc = deb["per_creation"]
    print(f"\nDebian base ({deb['base_bytes'] / 2**20:.0f} MiB): per creation, p50 of {pc['all three']['n']}")
    for k in ("overlay-prepare", "mount", "config-inject", "all three"):
        print(f"  {k:20s} {pc[k]['p50_ms']:8.2f} ms (p95 {pc[k]['p95_ms']:.2f})")
    print(f"  upper layer: {pc['upper_bytes_apparent']} bytes apparent, {pc['upper_bytes_allocated']} allocated, "
          f"{pc['upper_inodes']} inodes")
    print(f"  copy of the tree: {deb['copy_tree_us'] / 1000:.0f} ms ({deb['speedup_vs_copy_tree']}x slower); "
          f"copy of a {deb['image_bytes'] / 2**20:.0f} MiB raw image: {deb['copy_image_us'] / 1000:.0f} ms "
          f"({deb['speedup_vs_copy_image']}x slower)")
if results.get("generator"):
    print(f"\ngenerator: {results['generator']}")
if results.get("guest"):
    print(f"guest boot to READY=1 under this machine's emulation: {results['guest']['guest_ready_us'] / 1e6:.1f} s")

# ---- the plot -------------------------------------------------------------
rows = []
for n, r in results["pipeline"].items():
    s = r["stages"].get("request -> hypervisor running")
    a = r["stages"].get("request -> READY=1 (ReadyOn=vmm)")
    if s and a:
        rows.append(f"{n} {s['p50_ms']} {s['p95_ms']} {a['p50_ms']} {a['p95_ms']}")
if rows:
    data = f"{out}/creation-latency.dat"
    open(data, "w").write("\n".join(rows) + "\n")
    script = f"""set terminal pngcairo size 900,560
set output '{out}/creation-latency.png'
set title 'VM creation latency against concurrency (host side, one systemctl start)'
set xlabel 'VMs started at once'
set ylabel 'ms from systemctl start'
set logscale x
set key left top
set grid
plot '{data}' u 1:2 w lp t 'to hypervisor running, p50', '' u 1:3 w lp t 'to hypervisor running, p95', \\
     '' u 1:4 w lp t 'to VMM running (READY=1), p50', '' u 1:5 w lp t 'to VMM running (READY=1), p95'
"""
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
        print(f"\nplot: {out}/creation-latency.png")
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"\nno plot (gnuplot: {e})")
print(f"results: {out}/results.json")
