#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/layers.sh BUILDDIR [DIR] [MIB]: what cowvm snapshot, reset and commit
# cost on a VM whose upper layer holds MIB MiB (default 1024: 1 MiB files,
# plus 5000 small ones), against `cp -a` of that upper. DIR (default
# /var/tmp) is where the state directory goes: it should be the file system
# /var/lib/cowvm is on. The VM is a definition and a state directory only
# (nothing boots). Where PID 1 is systemd, cowvm also runs `systemctl
# daemon-reload` each time, which this does not measure.
#   snapshot  cowvm snapshot of the full upper
#   reset     cowvm reset to that snapshot, discarding a full upper: until the
#             command returns (the VM can start), and until the discarded
#             tree is deleted (in the background)
#   commit    cowvm commit of a full upper and one snapshot
#   cp -a     cp -a of a full upper (caches dropped first where allowed)
set -eu
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
build=$(realpath "${1:?usage: bench/layers.sh BUILDDIR [DIR] [MIB]}")
dir=${2:-/var/tmp}
mib=${3:-1024}
cowvm=$build/cowvm/cowvm
work=$(mktemp -d -p "$dir" cowvm-bench-layers.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
export COWVM_STATE_DIR=$work/state COWVM_RUNTIME_DIR=$work/run COWVM_DEFINITION_PATH=$work/defs

mkdir -p "$work/state/bases/b/sbin" "$work/state/bases/b/etc" "$work/defs" "$work/run"
cp /bin/true "$work/state/bases/b/sbin/init"
echo bench-base > "$work/state/bases/b/etc/cowvm-base-id"
printf '[VM]\nBase=b\nKernel=/boot/vmlinuz\nMemory=256M\n' > "$work/defs/bench.vm"
upper=$work/state/vms/bench/upper
mkdir -p "$work/state/vms/bench/work"
chmod 0700 "$work/state/vms/bench"

fill() { # fill: an upper of $mib MiB
        mkdir -p "$upper/big" "$upper/small"
        for i in $(seq 1 "$mib"); do head -c 1048576 /dev/urandom > "$upper/big/$i"; done
        for i in $(seq 1 5000); do echo "$i" > "$upper/small/$i"; done
        sync
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
timed() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; ms "$t0" "$EPOCHREALTIME"; }
size() { du -sh --one-file-system "$1" | cut -f1; }

printf 'machine: %s, %s cores, kernel %s, %s on %s\n' "$(uname -m)" "$(nproc)" "$(uname -r)" \
        "$(df -T "$dir" | awk 'NR == 2 { print $2 }')" "$dir"
fill
echo "upper: $(size "$upper")"
echo "snapshot: $(timed "$cowvm" snapshot bench s1) ms"
fill
t0=$EPOCHREALTIME
"$cowvm" reset bench s1 >/dev/null 2>&1
t1=$EPOCHREALTIME
while ls -d "$work"/state/vms/bench/trash.* >/dev/null 2>&1; do sleep 0.01; done
echo "reset: $(ms "$t0" "$t1") ms until the VM can start, $(ms "$t0" "$EPOCHREALTIME") ms until the discarded upper is deleted"
fill
echo "commit: $(timed "$cowvm" commit bench nb) ms ($(size "$work/state/bases/nb") + $(size "$work/state/bases/nb.s1") published)"
fill
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(caches not dropped)"
echo "cp -a: $(timed cp -a "$upper" "$work/copy") ms"
