#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/creation.sh BUILDDIR [DEBIAN_BASE]
#
# How fast cowvm creates VMs on this machine, measured through a real systemd
# (the system-test harness boots one in systemd-nspawn; with
# COWVM_SYSTEM_TEST_HOST=1 and systemd as PID 1, the host's own is used):
#
#   * the creation pipeline stage by stage, for N = 1, 10 and 50 VMs started
#     with one `systemctl start` call (ReadyOn=vmm: host-side work only),
#     from systemd's unit timestamps and ch-launch's journal entries;
#   * guest boot to READY=1 (ReadyOn=guest) under this machine's emulation,
#     reported apart from the host-side figures;
#   * memory per VM beyond guest RAM: RSS of virtiofsd, ch-launch and the
#     hypervisor (less the guest RAM it maps as shared memory);
#   * on a Debian base: bytes and inodes written to the upper layer and time
#     per creation (overlay-prepare + mount + config-inject), against creating
#     the VM by copying the base tree and by copying a raw disk image of it;
#   * the generator at 10, 100 and 1000 definitions.
#
# Writes bench/out/results.json, bench/out/creation-latency.png (gnuplot) and
# prints a table. DEBIAN_BASE defaults to a debootstrap made once and cached
# in /var/cache/cowvm-test/debian-bench.
set -eu
set -o pipefail
HERE=$(dirname "$(realpath "$0")")
TOP=$HERE/..
BUILD=$(realpath "${1:-$TOP/build}")
OUT=${COWVM_BENCH_OUT:-$HERE/out}
mkdir -p "$OUT"
RAW=$OUT/raw
rm -rf "$RAW" && mkdir -p "$RAW"
COUNTS=${COWVM_BENCH_COUNTS:-1 10 50}

. "$TOP/tests/system/lib/cowvm.sh"

# ---- Debian base: the upper-layer cost and the copy baseline ------------------
debian=${2:-/var/cache/cowvm-test/debian-bench}
if [ ! -x "$debian/sbin/init" ]; then
        echo "== making a Debian base with debootstrap (once, cached in $debian)"
        mirror=$(sed -n 's/^deb \(http[^ ]*\) bookworm main.*/\1/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 || true)
        [ -n "$mirror" ] || mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
        rm -rf "$debian.tmp"
        debootstrap --variant=minbase --include=systemd-sysv,udev,iproute2,openssh-server,netbase \
                bookworm "$debian.tmp" "${mirror:-http://deb.debian.org/debian}" >"$RAW/debootstrap.log" 2>&1
        mkdir -p "$debian.tmp/boot" && : >"$debian.tmp/boot/vmlinuz"
        mv "$debian.tmp" "$debian"
fi

echo "== creation on a Debian base: overlay-prepare + mount + config-inject, and the copy baseline"
"$HERE/debian-creation.sh" "$BUILD" "$debian" >"$RAW/debian.json"

echo "== generator"
"$HERE/generator.sh" "$BUILD/generator/cowvm-generator" | tail -n1 >"$RAW/generator.json"

# ---- the pipeline through systemd ------------------------------------------------
echo "== the creation pipeline through systemd (N = $COUNTS)"
# The VMs' upper layers on this machine's disk, as on a real host (the
# container's own /var is a tmpfs).
VMS=$(mktemp -d -p /var/tmp cowvm-bench-vms.XXXXXX)
harness_at_exit "rm -rf '$VMS'"
cowvm_boot "$BUILD" --bind="$VMS:/var/lib/cowvm/vms"

# Timestamps: units' *Monotonic properties and journal entries share
# CLOCK_MONOTONIC with the container; the request time comes from date(1)
# (realtime), converted with the journal's realtime/monotonic pair.
mono_offset() {
        C journalctl -n 1 -o json --output-fields=__REALTIME_TIMESTAMP,__MONOTONIC_TIMESTAMP |
                python3 -c 'import json,sys; e=json.loads(sys.stdin.readline()); print(int(e["__REALTIME_TIMESTAMP"])-int(e["__MONOTONIC_TIMESTAMP"]))'
}

collect() { # N REP FILE: unit timestamps and ch-launch's journal entries of VMs b1..bN
        local n=$1 rep=$2 file=$3 i
        for i in $(seq 1 "$n"); do
                for u in "overlay-prepare@b$i.service" "run-cowvm-b$i-root.mount" "virtiofsd@b$i.socket" "vm@b$i.service"; do
                        local -A v=()
                        while IFS='=' read -r k val; do v[$k]=$val; done < <(C systemctl show \
                                -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic \
                                -p ExecMainStartTimestampMonotonic -p ActiveState "$u")
                        echo "unit ${rep}_$i $u ${v[InactiveExitTimestampMonotonic]:-0} ${v[ActiveEnterTimestampMonotonic]:-0}" \
                             "${v[ExecMainStartTimestampMonotonic]:-0} ${v[ActiveState]:-unknown}"
                done
                C journalctl -o json --output-fields=MESSAGE,__MONOTONIC_TIMESTAMP \
                        _SYSTEMD_INVOCATION_ID="$(C systemctl show -P InvocationID "vm@b$i.service")" --grep '^(Started qemu|VM running \()' |
                        python3 -c "
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    print('log ${rep}_$i', e['__MONOTONIC_TIMESTAMP'], e['MESSAGE'].split(' (')[0].replace(' ', '_'))"
                # ch-launch, its hypervisor, and virtiofsd with its sandbox child.
                local main fsd
                main=$(C systemctl show -P MainPID "vm@b$i.service")
                fsd=$(C systemctl show -P MainPID "virtiofsd@b$i.service")
                for p in $main $(C pgrep -P "$main") $fsd $(C pgrep -P "$fsd"); do
                        [ "$p" -gt 0 ] || continue
                        echo "rss ${rep}_$i $(C cat "/proc/$p/status" | awk '/^Name:/ { n = $2 } /^Rss(Anon|File|Shmem):/ { v = v " " $2 } END { print n v }')"
                done
        done >>"$file"
}

# A container that has just booted is still busy for a moment.
C systemctl is-system-running --wait >/dev/null || true
for n in $COUNTS; do
        # One VM alone is measured several times, for a median worth the name.
        reps=1
        [ "$n" -gt 1 ] || reps=${COWVM_BENCH_SINGLE_RUNS:-7}
        : >"$RAW/n$n.txt"
        : >"$RAW/n$n.units"
        for rep in $(seq 1 "$reps"); do
                names=()
                for i in $(seq 1 "$n"); do
                        vm_define "b$i" "Hypervisor=qemu" "Memory=128M" "ReadyOn=vmm" "TimeoutStartSec=10min" "TimeoutStopSec=15s"
                        names+=("vm@b$i.service")
                done
                C systemctl daemon-reload
                sleep 1
                offset=$(mono_offset)
                # The request time is taken in the container, right before
                # systemctl runs: nothing of the harness is counted.
                t_req=$(C sh -c 'date +%s%6N >&2; exec systemctl start "$@"' sh "${names[@]}" 2>&1 >/dev/null | tail -n1) ||
                        echo "some VMs failed to start (counted as failures)"
                echo "request $rep $t_req $offset" >>"$RAW/n$n.txt"
                collect "$n" "$rep" "$RAW/n$n.units"
                C systemctl stop "${names[@]}" || true
                for i in $(seq 1 "$n"); do C rm -rf "/etc/cowvm/b$i.vm" "/var/lib/cowvm/vms/b$i"; done
        done
done

echo "== guest boot to READY=1 (ReadyOn=guest)"
vm_define g1 "Hypervisor=qemu" "Memory=256M" "ReadyOn=guest" "Ephemeral=yes"
C systemctl daemon-reload
t0=$(date +%s%6N)
C systemctl start vm@g1
t1=$(date +%s%6N)
echo "{\"guest_ready_us\": $((t1 - t0))}" >"$RAW/guest.json"
C systemctl stop vm@g1

echo "== results"
python3 "$HERE/analyze.py" "$RAW" "$OUT" "$COUNTS"
