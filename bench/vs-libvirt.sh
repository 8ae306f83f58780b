#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/vs-libvirt.sh BUILDDIR [DEBIAN_BASE]
#
# cowvm side by side with libvirt on this machine, in one run, through a real
# systemd (the system-test harness boots one in systemd-nspawn, with cowvm's
# build installed and Debian's libvirtd started in it). Both make the same VM:
# QEMU under TCG, 1 vCPU, 128 MiB, no network, direct boot of the busybox test
# base's kernel and initrd. cowvm's root is an overlay of that base over
# virtio-fs (ReadyOn=vmm); libvirt's is a virtio disk that is a qcow2 linked
# clone (qemu-img create -b) of a qcow2 image of the same tree, which is how a
# libvirt user avoids copying. (That guest boots no further than the test
# base's initramfs, which finds no virtio-fs root and powers off; the
# figures end when QEMU reports the VM running, long before.) Measured
# interleaved, a cowvm run then a libvirt run:
#
#   a. an existing, stopped VM -> running: `systemctl start vm@NAME` against
#      `virsh start NAME` (both return once QEMU reports the VM running), and
#      request -> QEMU started (ch-launch's "Started qemu" journal entry;
#      the "starting up" line libvirt writes into its log before it execs QEMU);
#   b. a new VM -> running: the definition file + `systemctl start` against
#      qemu-img create -b + virsh define + virsh start;
#   c. MANY new VMs -> running: MANY definition files + one `systemctl start`
#      against, for each VM, qemu-img create -b, then one virsh session that
#      defines and starts them one after the other (a libvirt user's script,
#      with one connection and no virsh start-up per command), and, as a third
#      column, the same with the starts in parallel, one virsh each (the
#      fastest here: under TCG every guest started burns a CPU, slowing the
#      starts after it);
#   d. without systemd or a hypervisor: cowvm's host-side steps on a Debian
#      base (the steps bench/debian-creation.sh times, the one list of them)
#      against copying a raw image of the base and syncing it, on the Debian
#      base and on a 2 GiB one (the same plus a 1.4 GiB file of random data);
#      with the copy rate and what it means for a 12 GB image.
#
# Today a new definition needs `systemctl daemon-reload` before its unit
# exists; COWVM_BENCH_RELOAD=1 puts one into b and c (inside the timing) and
# the output says which variant was measured.
#
# Needs root, systemd-nspawn, qemu-system-x86, qemu-utils and
# libvirt-daemon-system (not installed here: the script stops and names them).
# Environment: COWVM_BENCH_RUNS (a, b; default 11), COWVM_BENCH_MANY (c;
# default 20), COWVM_BENCH_MANY_RUNS (default 3), COWVM_BENCH_RELOAD,
# COWVM_BENCH_OUT (default bench/out), COWVM_BENCH_PARTS (which of a-d to
# run; default abcd). Writes $COWVM_BENCH_OUT/vs-libvirt.json
# and prints a table. DEBIAN_BASE defaults to the Debian base of the system
# tests (cowvm-mkbase debootstrap, made once and cached).
set -eu
set -o pipefail
HERE=$(dirname "$(realpath "$0")")
TOP=$HERE/..
[ $# -ge 1 ] || { echo "usage: $0 BUILDDIR [DEBIAN_BASE]" >&2; exit 2; }
BUILD=$(realpath "$1")
OUT=${COWVM_BENCH_OUT:-$HERE/out}
RUNS=${COWVM_BENCH_RUNS:-11}
MANY=${COWVM_BENCH_MANY:-20}
MANY_RUNS=${COWVM_BENCH_MANY_RUNS:-3}
RELOAD=${COWVM_BENCH_RELOAD:-0}
PARTS=${COWVM_BENCH_PARTS:-abcd}
VARIANT=no-reload
[ "$RELOAD" != 1 ] || VARIANT=reload

missing=()
for c in libvirtd:libvirt-daemon-system virsh:libvirt-clients qemu-img:qemu-utils qemu-system-x86_64:qemu-system-x86; do
        command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "vs-libvirt: missing ${missing[*]}; install them with" >&2
        echo "  apt-get install -y --no-install-recommends libvirt-daemon-system qemu-utils qemu-system-x86" >&2
        exit 1
fi

. "$TOP/tests/system/lib/cowvm.sh"
# shellcheck source=lib/bench.sh
. "$HERE/lib/bench.sh"

mkdir -p "$OUT"
RAW=$(mktemp -d -p /var/tmp cowvm-bench-vs-libvirt.XXXXXX)
harness_at_exit "rm -rf '$RAW'"
echo "== $(date -u '+%F %T') UTC, variant $VARIANT, $RUNS runs (a, b), $MANY_RUNS runs of $MANY VMs (c)"
bench_machine >"$RAW/machine-start.json"
echo "   $(uptime)"

# ---- d. the host-side steps against copying an image ------------------------
part() { [[ $PARTS == *$1* ]]; }
debian=${2:-}
if part d && [ -z "$debian" ]; then
        rc=0
        debian=$(cowvm_debian_base "$BUILD") || rc=$?
        [ "$rc" -eq 0 ] || { echo "vs-libvirt: no Debian base: $debian" >&2; exit 1; }
fi
if part d; then
        debian=$(realpath "$debian")
        echo "== d. host-side steps against an image copy, on $debian"
        "$HERE/debian-creation.sh" "$BUILD" "$debian" "$RUNS" >"$RAW/d-base.json"
        big=$RAW/big-base
        echo "== d. the same on a 2 GiB base (the Debian base + 1.4 GiB of random data)"
        cp -a "$debian" "$big"
        head -c 1400M /dev/urandom >"$big/var/filler"
        "$HERE/debian-creation.sh" "$BUILD" "$big" "$RUNS" >"$RAW/d-big.json"
        rm -rf "$big"
fi

# ---- the container: cowvm and libvirtd ---------------------------------------
# The VMs' disks on this machine's disk, as on a real host (the container's
# own /var is a tmpfs): cowvm's upper layers and libvirt's images.
mkdir -p "$RAW/vms" "$RAW/images" "$RAW/libvirt-etc"
cp -a /etc/libvirt/. "$RAW/libvirt-etc/"
# No network, so no default network to start with libvirtd. No cgroups of
# libvirt's own: on a host with cgroup v1 controllers nspawn gives the
# container their hierarchies read-only, and libvirtd fails to start a domain
# if it cannot make a cgroup in them (the VMs still get a scope of the
# container's systemd, through systemd-machined, as cowvm's units do).
rm -rf "$RAW/libvirt-etc/qemu/networks/autostart"
if grep -q '^cgroup ' /proc/mounts; then
        echo 'cgroup_controllers = [ ]' >>"$RAW/libvirt-etc/qemu.conf"
fi
test_base >/dev/null
# libvirt's base image: the busybox test base as an ext4 image, as qcow2.
size=$(( $(du -s --apparent-size --block-size=1M "$TEST_BASE" | cut -f1) * 14 / 10 + 64 ))
truncate -s "${size}M" "$RAW/base.img"
mkfs.ext4 -q -d "$TEST_BASE" "$RAW/base.img"
qemu-img convert -f raw -O qcow2 "$RAW/base.img" "$RAW/images/base.qcow2"
rm -f "$RAW/base.img"

cowvm_boot "$BUILD" --bind="$RAW/vms:/var/lib/cowvm/vms" --bind="$RAW/images:/var/lib/libvirt/images" \
        --bind-ro="$RAW/libvirt-etc:/run/bench/libvirt-etc"
C systemctl is-system-running --wait >/dev/null || true

# The container's /etc starts empty: systemd presets enable every unit
# installed, so libvirtd has just started without a configuration and with its
# TCP and TLS sockets, for which it then wants certificates. Stop it, keep the
# two sockets off; its configuration comes from the host's (a copy: libvirtd
# writes domain definitions there), and its users, which Debian's package makes
# in its postinst, from the host's databases.
C systemctl stop libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket
C systemctl mask --runtime --now libvirtd-tcp.socket libvirtd-tls.socket >/dev/null 2>&1
C systemctl reset-failed libvirtd.service >/dev/null 2>&1 || true
C mkdir -p /etc/libvirt
C cp -a /run/bench/libvirt-etc/. /etc/libvirt/
# shellcheck disable=SC2016 # for the inner shell
C sh -c 'grep -q "^libvirt-qemu:" /etc/passwd || echo "$1" >>/etc/passwd' sh "$(getent passwd libvirt-qemu)"
for g in kvm libvirt libvirt-qemu; do
        # shellcheck disable=SC2016 # for the inner shell
        C sh -c 'grep -q "^${1%%:*}:" /etc/group || echo "$1" >>/etc/group' sh "$(getent group "$g")"
done
C systemctl start virtlogd.socket libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd.service ||
        { C journalctl -b -u libvirtd --no-pager | tail -n 30 >&2; exit 1; }
C virsh -q -c qemu:///system version >/dev/null
LV_VERSION=$(C virsh -c qemu:///system version | sed -n 's/^Running hypervisor: //p')
echo "   libvirtd in the container: $(C libvirtd --version), hypervisor $LV_VERSION"

BOOT=/var/lib/cowvm/bases/test/boot
IMAGES=/var/lib/libvirt/images
lv_xml() { # NAME: the libvirt domain
        cat <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$BOOT/vmlinuz</kernel>
    <initrd>$BOOT/initrd.img</initrd>
    <cmdline>root=/dev/vda rw console=ttyS0</cmdline>
  </os>
  <cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$IMAGES/$1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'/>
  </devices>
</domain>
XML
}
cowvm_def() { # NAME: the cowvm definition
        printf '%s\n' "[VM]" "Base=test" "Hypervisor=qemu" "CPUs=1" "Memory=128M" "ReadyOn=vmm" \
                "TimeoutStartSec=10min" "TimeoutStopSec=15s"
}
RELOAD_CMD=:
[ "$VARIANT" = no-reload ] || RELOAD_CMD="systemctl daemon-reload"
# The commands as a user runs them, timed in the container. A new cowvm VM:
# its definition, (the reload,) the start.
# shellcheck disable=SC2016 # for the inner shell
cowvm_new='for d; do printf "%s\n" "${d#*=}" >"/etc/cowvm/${d%%=*}.vm"; done; '$RELOAD_CMD'; n=; for d; do n="$n vm@${d%%=*}"; done; exec systemctl start $n'
# A new libvirt VM: its image, its definition, its start; one virsh for all.
# shellcheck disable=SC2016 # for the inner shell
lv_new='s=; for d; do n=${d%%=*}; qemu-img create -q -f qcow2 -b '$IMAGES'/base.qcow2 -F qcow2 '$IMAGES'/$n.qcow2 || exit 1;
        printf "%s\n" "${d#*=}" >/run/bench/$n.xml; s="$s define /run/bench/$n.xml; start $n;"; done; exec virsh -q -c qemu:///system "$s"'
# The same, the starts in parallel: one virsh per VM, as `xargs -P` would run
# them, once all are defined.
# shellcheck disable=SC2016 # for the inner shell
lv_new_parallel='s=; for d; do n=${d%%=*}; qemu-img create -q -f qcow2 -b '$IMAGES'/base.qcow2 -F qcow2 '$IMAGES'/$n.qcow2 || exit 1;
        printf "%s\n" "${d#*=}" >/run/bench/$n.xml; s="$s define /run/bench/$n.xml;"; done; virsh -q -c qemu:///system "$s" || exit 1;
        p=; for d; do virsh -q -c qemu:///system start "${d%%=*}" & p="$p $!"; done; rc=0; for i in $p; do wait $i || rc=1; done; exit $rc'

# When QEMU was started: ch-launch's journal entry of this run of vm@NAME;
# the last "starting up" of libvirt's log of NAME (ms, UTC).
cowvm_exec_time() { # NAME
        C journalctl -o json --output-fields=MESSAGE _SYSTEMD_INVOCATION_ID="$(C systemctl show -P InvocationID "vm@$1.service")" \
                --grep '^Started qemu' | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["__REALTIME_TIMESTAMP"])' ||
                echo 0
}
# When systemd started ch-launch, the chain before it (overlay-prepare, the
# mount, virtiofsd's socket) done.
cowvm_launch_time() {
        local t
        t=$(C systemctl show --timestamp=us+utc -P ExecMainStartTimestamp "vm@$1.service")
        [ -n "$t" ] && C date -d "${t#* }" +%s%6N || echo 0
}
lv_exec_time() {
        C sed -n 's/^\([0-9-]* [0-9:.]*\)+0000: starting up.*/\1/p' "/var/log/libvirt/qemu/$1.log" | tail -n1 |
                python3 -c 'import sys, datetime as d; t = d.datetime.strptime(sys.stdin.read().strip(), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=d.timezone.utc); print(int(t.timestamp() * 1e6))' ||
                echo 0
}
cowvm_stop() { # NAME
        C systemctl stop "vm@$1.service"
        wait_vm_gone "$1" >/dev/null
}
cowvm_clean() { # NAMES...
        local n units=()
        for n; do units+=("vm@$n.service"); done
        C systemctl stop "${units[@]}" || true
        for n; do
                wait_vm_gone "$n" >/dev/null
                C rm -rf "/etc/cowvm/$n.vm" "/var/lib/cowvm/vms/$n"
        done
}
lv_clean() { # NAMES...
        local n
        for n; do
                C virsh -q destroy "$n" >/dev/null 2>&1 || true
                C virsh -q undefine "$n" >/dev/null 2>&1 || true
                C rm -f "$IMAGES/$n.qcow2" "/run/bench/$n.xml"
        done
}
last_exec_time() { # cowvm|lv NAMES...: when the last of their QEMUs started
        local how=$1 n t last=0
        shift
        for n; do
                t=$("${how}_exec_time" "$n")
                [ "$t" -gt "$last" ] && last=$t
        done
        echo "$last"
}
record() { # KIND SYSTEM RUN "T_REQ T_END RC" [T_EXEC [T_LAUNCH]]
        local t
        read -r -a t <<<"$4"
        echo "$1 $2 $3 ${t[0]} ${t[1]} ${t[2]} ${5:-0} ${6:-0}" >>"$RAW/runs.txt"
        [ "${t[2]}" = 0 ] || echo "   $1 $2 run $3 failed (status ${t[2]})"
}
: >"$RAW/runs.txt"
C mkdir -p /run/bench

# ---- a. start an existing VM --------------------------------------------------
if part a; then
        echo "== a. existing VM, stopped -> running ($RUNS runs each, interleaved)"
        cowvm_def s1 | C sh -c 'cat >/etc/cowvm/s1.vm'
        C systemctl daemon-reload
        C systemctl start vm@s1.service
        cowvm_stop s1
        C qemu-img create -q -f qcow2 -b "$IMAGES/base.qcow2" -F qcow2 "$IMAGES/s1.qcow2"
        lv_xml s1 | C sh -c 'cat >/run/bench/s1.xml'
        C virsh -q define /run/bench/s1.xml >/dev/null
        C virsh -q start s1 >/dev/null
        C virsh -q destroy s1 >/dev/null
        sleep 1
        for run in $(seq 1 "$RUNS"); do
                r=$(bench_timed systemctl start vm@s1.service)
                record a cowvm "$run" "$r" "$(cowvm_exec_time s1)" "$(cowvm_launch_time s1)"
                cowvm_stop s1
                sleep 1
                r=$(bench_timed virsh -q start s1)
                record a libvirt "$run" "$r" "$(lv_exec_time s1)"
                C virsh -q destroy s1 >/dev/null
                sleep 1
        done
        cowvm_clean s1
        lv_clean s1
fi

# ---- b. one new VM -------------------------------------------------------------
if part b; then
        echo "== b. new VM -> running ($RUNS runs each, interleaved)"
        for run in $(seq 1 "$RUNS"); do
                r=$(bench_timed sh -c "$cowvm_new" sh "n$run=$(cowvm_def "n$run")")
                record b cowvm "$run" "$r" "$(cowvm_exec_time "n$run")" "$(cowvm_launch_time "n$run")"
                cowvm_clean "n$run"
                sleep 1
                r=$(bench_timed sh -c "$lv_new" sh "n$run=$(lv_xml "n$run")")
                record b libvirt "$run" "$r" "$(lv_exec_time "n$run")"
                lv_clean "n$run"
                sleep 1
        done

        # ---- c. many new VMs -----------------------------------------------------------
fi

if part c; then
        echo "== c. $MANY new VMs -> running ($MANY_RUNS runs each, interleaved)"
        for run in $(seq 1 "$MANY_RUNS"); do
                names=() cdefs=() ldefs=()
                for i in $(seq 1 "$MANY"); do
                        n=m${run}x$i
                        names+=("$n")
                        cdefs+=("$n=$(cowvm_def "$n")")
                        ldefs+=("$n=$(lv_xml "$n")")
                done
                r=$(bench_timed sh -c "$cowvm_new" sh "${cdefs[@]}")
                record c cowvm "$run" "$r" "$(last_exec_time cowvm "${names[@]}")"
                cowvm_clean "${names[@]}"
                sleep 3
                r=$(bench_timed sh -c "$lv_new" sh "${ldefs[@]}")
                record c libvirt "$run" "$r" "$(last_exec_time lv "${names[@]}")"
                lv_clean "${names[@]}"
                sleep 3
                r=$(bench_timed sh -c "$lv_new_parallel" sh "${ldefs[@]}")
                record c libvirt-parallel "$run" "$r" "$(last_exec_time lv "${names[@]}")"
                lv_clean "${names[@]}"
                sleep 3
        done

fi

bench_machine >"$RAW/machine-end.json"
echo "   $(uptime)"

# ---- the table and the JSON ------------------------------------------------------
python3 - "$RAW" "$OUT/vs-libvirt.json" "$VARIANT" "$RUNS" "$MANY" "$MANY_RUNS" "$LV_VERSION" <<'PY'
import json, statistics, sys
raw, out, variant, runs, many, many_runs, lv_hv = sys.argv[1:]

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def stats(v):
    if not v:
        return None
    return {"n": len(v), "median_ms": round(statistics.median(v), 1), "p90_ms": round(pct(v, 90), 1),
            "min_ms": round(min(v), 1), "max_ms": round(max(v), 1)}

runs_ = [l.split() for l in open(f"{raw}/runs.txt")]
res = {}
for kind, system, run, t0, t1, rc, tx, tl in runs_:
    r = res.setdefault(kind, {}).setdefault(system, {"running": [], "exec": [], "launch": [], "failures": 0})
    if rc != "0":
        r["failures"] += 1
        continue
    r["running"].append((int(t1) - int(t0)) / 1000)
    if int(tx) > 0:
        r["exec"].append((int(tx) - int(t0)) / 1000)
    if int(tl) > 0:
        r["launch"].append((int(tl) - int(t0)) / 1000)
for kind in res.values():
    for system, r in kind.items():
        kind[system] = {"failures": r["failures"], "to_running": stats(r["running"]), "to_qemu_started": stats(r["exec"]),
                        "to_ch_launch": stats(r["launch"])}

def host_steps(f):
    d = json.load(open(f))
    steps = [k for k in d["rounds"][0] if k.endswith("_us")]
    tot = [sum(rd[k] for k in steps) / 1000 for rd in d["rounds"]]
    copy_ms = d["copy_image_us"] / 1000
    rate = d["image_bytes"] / 1048576 / (copy_ms / 1000)
    t12 = 12e9 / 1048576 / rate * 1000
    return {"base_bytes": d["base_bytes"], "steps": [k[:-3] for k in steps], "cowvm_steps": stats(tot),
            "image_bytes": d["image_bytes"], "copy_image_ms": round(copy_ms, 1), "copy_mib_s": round(rate, 1),
            "ratio": round(copy_ms / statistics.median(tot), 1),
            "copy_12gb_ms": round(t12), "ratio_12gb": round(t12 / statistics.median(tot))}

import os
if os.path.exists(f"{raw}/d-base.json"):
  res["d"] = {"debian": host_steps(f"{raw}/d-base.json"), "big": host_steps(f"{raw}/d-big.json")}
doc = {"variant": variant, "runs": int(runs), "many": int(many), "many_runs": int(many_runs),
       "libvirt_hypervisor": lv_hv,
       "machine_start": json.load(open(f"{raw}/machine-start.json")),
       "machine_end": json.load(open(f"{raw}/machine-end.json")), "results": res}
json.dump(doc, open(out, "w"), indent=1)

m = doc["machine_start"]
print(f"\n{m['cpu']} ({m['cpus']} CPUs), kernel {m['kernel']}")
print(f"{m['qemu']}; {m['libvirt']} (hypervisor {lv_hv})")
print(f"load average at start {m['loadavg']}, at the end {doc['machine_end']['loadavg']}")
print(f"cowvm variant: {variant} ({'systemctl daemon-reload inside b and c' if variant == 'reload' else 'no daemon-reload'})\n")

def f(s):
    return "-" if not s else f"{s['median_ms']:.1f} / {s['p90_ms']:.1f} / {s['min_ms']:.1f}-{s['max_ms']:.1f}"

titles = {"a": "a. existing VM -> running", "b": "b. new VM -> running", "c": f"c. {many} new VMs -> all running"}
if any(k in res for k in "abc"):
    print(f"{'(ms: median / p90 / min-max)':34} {'cowvm':>32} {'libvirt':>32}   libvirt/cowvm")
for k in (k for k in "abc" if k in res):
    for what, label in (("to_running", titles[k]), ("to_ch_launch", "   request -> ch-launch started"),
                        ("to_qemu_started", "   request -> " + ("last " if k == "c" else "") + "QEMU started")):
        c, l = res[k]["cowvm"][what], res[k]["libvirt"][what]
        if not c and not l:
            continue
        ratio = f"{l['median_ms'] / c['median_ms']:.2f}" if c and l else "-"
        print(f"{label:34} {f(c):>32} {f(l):>32}   {ratio}")
        lp = res[k].get("libvirt-parallel", {}).get(what)
        if lp:
            ratio = f"{lp['median_ms'] / c['median_ms']:.2f}" if c else "-"
            print(f"{'   (libvirt, parallel starts)':34} {'':>32} {f(lp):>32}   {ratio}")
    fc, fl = res[k]["cowvm"]["failures"], res[k]["libvirt"]["failures"] + res[k].get("libvirt-parallel", {}).get("failures", 0)
    if fc or fl:
        print(f"{'   failures':34} {fc:>32} {fl:>32}")
print()
for key, label in (("debian", "Debian base"), ("big", "2 GiB base")) if "d" in res else ():
    d = res["d"][key]
    s = d["cowvm_steps"]
    print(f"d. {label} ({d['base_bytes'] / 1048576:.0f} MiB): cowvm's {' + '.join(d['steps'])} "
          f"{s['median_ms']:.1f} ms (p90 {s['p90_ms']:.1f}); copy of its raw image "
          f"({d['image_bytes'] / 1048576:.0f} MiB) + sync {d['copy_image_ms']:.0f} ms = {d['ratio']:.0f}x, "
          f"{d['copy_mib_s']:.0f} MiB/s; a 12 GB image at that rate: {d['copy_12gb_ms'] / 1000:.1f} s = {d['ratio_12gb']:.0f}x")
print(f"\nwrote {out}")
PY
