#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-launch.sh [RUNS]: what ch-launch itself costs, with QEMU (TCG) and
# ReadyOn=vmm. Not a test: prints numbers. For each run, from strace -ttt -f
# timestamps of one ch-launch start:
#   setup     ch-launch's execve -> its fork of the hypervisor (all of
#             ch-launch's own work before it: definition, probes, sockets, argv)
#   QMP reactions  the sum, over the QMP messages ch-launch receives, of the
#             time until it sends its answer (capabilities, query-status,
#             READY=1): ch-launch's share of the QMP handshake; QEMU's own
#             start-up and reply latency are excluded
#   overhead  setup + QMP reactions
#   total     ch-launch execve -> READY=1 sent, QEMU start-up included
# strace slows every syscall down, so the figures are an upper bound.
# strace --seccomp-bpf stops only on the traced calls. BENCH_TRACE_SET=all
# and BENCH_KEEP_TRACE=FILE keep a full trace to see where time goes.
# Root only (overlay, virtiofsd).

set -eu
[ -z "${BENCH_TRACE:-}" ] || set -x
# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"
RUNS=${1:-10}
require_root "overlay, virtiofsd"
require_cmd strace strace
private_mounts "$@"
HERE=$(dirname "$(realpath "$0")")
SRC=$(realpath "$HERE/../..")
BUILD=${COWVM_BUILD_DIR:-$SRC/build}
test_base
T=$(mktemp -d /tmp/cowvm-bench-launch.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; umount "$T/run/b/root" 2>/dev/null; rm -rf "$T"' EXIT
flock -s "$TEST_CACHE/lock" cp -a "$TEST_BASE" "$T/base"
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
        vfs=$!
        while ! [ -S "$T/run/b/virtiofsd.sock" ]; do sleep 0.01; done
        : >"$T/notify.log"
        NOTIFY_SOCKET=$T/notify.sock COWVM_JOURNAL_SOCKET=$T/journal.sock COWVM_STOP_TIMEOUT_USEC=1 \
                strace --seccomp-bpf -f -ttt -e trace=${BENCH_TRACE_SET:-execve,clone,clone3,fork,vfork,sendmsg,sendto,recvfrom} -o "$T/trace" \
                "$BUILD/helpers/ch-launch/ch-launch" b 2>/dev/null &
        pid=$!
        while ! grep -q '^READY=1' "$T/notify.log" 2>/dev/null; do sleep 0.01; done
        # ch-launch is strace's child; QEMU dies with it (PR_SET_PDEATHSIG),
        # and virtiofsd when QEMU's connection closes.
        launch=$(pgrep -P $pid)
        kill -KILL $launch 2>/dev/null || true
        wait $pid 2>/dev/null || true
        wait $vfs 2>/dev/null || true
        [ -z "${BENCH_KEEP_TRACE:-}" ] || cp "$T/trace" "$BENCH_KEEP_TRACE"
        python3 - "$T/trace" <<'PY'
import re, sys
lines = [l.split(None, 2) for l in open(sys.argv[1]).read().splitlines()]
main = lines[0][0]
own = [(float(t), rest) for pid, t, rest in lines if pid == main]
t_exec = own[0][0]
t_fork = next(t for t, r in own if re.match(r'(clone3?|fork|vfork)\(', r))
# ch-launch's reactions on QMP: each message received -> the next thing it sends
recvs = [t for t, r in own if 'recvfrom(' in r and 'QMP' in r or '"id' in r and ('recvfrom' in r or 'resumed' in r)]
sends = [t for t, r in own if r.startswith(('sendto(', 'sendmsg('))]
t_ready = next(t for t, r in own if 'READY=1' in r and ('sendmsg' in r or 'resumed' in r))
react = 0.0
for t in recvs:
    nxt = [u for u in sends if u >= t]
    if nxt:
        react += nxt[0] - t
print("setup (execve -> fork) %.3f ms  QMP reactions %.3f ms  ch-launch overhead %.3f ms  total to READY=1 %.1f ms" % (
    (t_fork - t_exec) * 1e3, react * 1e3, (t_fork - t_exec + react) * 1e3, (t_ready - t_exec) * 1e3))
PY
done
