#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-launch.sh [RUNS]: what ch-launch itself costs, with QEMU (TCG) and
# ReadyOn=vmm. Not a test: prints numbers. For each run, from strace -ttt -f
# timestamps of one ch-launch start:
#   exec      ch-launch's execve -> its fork of the hypervisor (all of
#             ch-launch's own setup: definition, probes, sockets, argv)
#   qmp       QEMU's first QMP greeting -> READY=1 sent (ch-launch's reaction
#             on the control channel; QEMU's own start-up is excluded)
#   overhead  exec + qmp
#   total     ch-launch execve -> READY=1, QEMU start-up included
# strace slows every syscall down, so the figures are an upper bound.
# Root only (overlay, virtiofsd).

set -eu
RUNS=${1:-10}
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 77; }
command -v strace >/dev/null || { echo "needs strace" >&2; exit 77; }
if [ -z "${COWVM_TEST_PRIVATE_MOUNTS:-}" ]; then
        exec env COWVM_TEST_PRIVATE_MOUNTS=1 unshare -m --propagation private -- "$0" "$@"
fi
HERE=$(dirname "$(realpath "$0")")
SRC=$(realpath "$HERE/../..")
BUILD=${COWVM_BUILD_DIR:-$SRC/build}
CACHE=${COWVM_TEST_CACHE:-/var/cache/cowvm-test}
"$SRC/tests/guest/make-test-base.sh" "$CACHE/base" >/dev/null
T=$(mktemp -d /tmp/cowvm-bench-launch.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; umount "$T/run/b/root" 2>/dev/null; rm -rf "$T"' EXIT
flock -s "$CACHE/lock" cp -a "$CACHE/base" "$T/base"
export COWVM_DEFINITION_PATH=$T/defs COWVM_STATE_DIR=$T/state COWVM_RUNTIME_DIR=$T/run
mkdir -p "$T/defs" "$T/run/b/root" "$T/state/vms/b/upper" "$T/state/vms/b/work"
printf '[VM]\nBase=%s\nHypervisor=qemu\nReadyOn=vmm\nTimeoutStopSec=2s\n' "$T/base" >"$T/defs/b.vm"
mount -t overlay overlay -o "lowerdir=$T/base,upperdir=$T/state/vms/b/upper,workdir=$T/state/vms/b/work" "$T/run/b/root"
python3 "$HERE/dgram-sink.py" notify "$T/notify.sock" "$T/notify.log" &
python3 "$HERE/dgram-sink.py" journal "$T/journal.sock" /dev/null &
while ! [ -S "$T/notify.sock" ] || ! [ -S "$T/journal.sock" ]; do sleep 0.05; done

for i in $(seq "$RUNS"); do
        rm -f "$T/run/b/virtiofsd.sock"
        systemd-socket-activate -E COWVM_DEFINITION_PATH -E COWVM_STATE_DIR -E COWVM_RUNTIME_DIR \
                -l "$T/run/b/virtiofsd.sock" "$BUILD/helpers/virtiofsd-exec/virtiofsd-exec" b 2>/dev/null &
        while ! [ -S "$T/run/b/virtiofsd.sock" ]; do sleep 0.01; done
        : >"$T/notify.log"
        NOTIFY_SOCKET=$T/notify.sock COWVM_JOURNAL_SOCKET=$T/journal.sock COWVM_STOP_TIMEOUT_USEC=1 \
                strace -f -ttt -e trace=execve,clone,clone3,fork,vfork,sendmsg,recvfrom,read -o "$T/trace" \
                "$BUILD/helpers/ch-launch/ch-launch" b 2>/dev/null &
        pid=$!
        while ! grep -q '^READY=1' "$T/notify.log" 2>/dev/null; do sleep 0.01; done
        kill -KILL $pid 2>/dev/null || true
        wait $pid 2>/dev/null || true
        pkill -KILL -f "qemu-system-x86_64 -name b " 2>/dev/null || true
        wait 2>/dev/null || true
        python3 - "$T/trace" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
main = lines[0].split()[0]
t_exec = float(lines[0].split()[1])
t_fork = next(float(l.split()[1]) for l in lines if l.split()[0] == main and re.search(r'\b(clone3?|fork|vfork)\(', l))
# QEMU's QMP greeting arrives on a recvfrom of ch-launch's main thread
t_qmp = next(float(l.split()[1]) for l in lines if l.split()[0] == main and 'recvfrom' in l and '"QMP"' in l)
t_ready = next(float(l.split()[1]) for l in lines if l.split()[0] == main and 'sendmsg' in l and 'READY=1' in l)
print("exec %.3f ms  qmp %.3f ms  overhead %.3f ms  total %.1f ms" % (
    (t_fork - t_exec) * 1e3, (t_ready - t_qmp) * 1e3, (t_fork - t_exec + t_ready - t_qmp) * 1e3, (t_ready - t_exec) * 1e3))
PY
done
