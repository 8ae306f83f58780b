#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-generator-kmsg.sh GENERATOR
#
# The generator as systemd runs it: no log target forced, so it writes to
# the real /dev/kmsg, and this reads the kernel log back. Every rejected
# definition must be there as one record with its file:line and reason; a
# file with only warnings as one record too; and past the kernel's burst of
# 10 records per open (printk_devkmsg=ratelimit) nothing disappears
# silently: the last record says how many were left out.
#
# Root only: /dev/kmsg.
set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "/dev/kmsg"
require_cmd dmesg util-linux
[ -w /dev/kmsg ] && dmesg >/dev/null 2>&1 || skip "cannot write and read the kernel log here"

gen=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
unset COWVM_LOG_TARGET
export COWVM_STATE_DIR=/var/lib/cowvm COWVM_RUNTIME_DIR=/run/cowvm
defs=$tmp/defs
mkdir -p "$defs" "$tmp/out"
export COWVM_DEFINITION_PATH=$defs

# run_generator: runs it, and leaves the kernel log records of that run (by
# its pid) in $log.
run_generator() {
        local pid
        "$gen" "$tmp/out" "$tmp/out" "$tmp/out" &
        pid=$!
        wait "$pid" || fail "the generator failed"
        log=$(dmesg --notime | grep -F "cowvm-generator[$pid]: " || true)
        echo "$log"
}

# ---- one rejected file, one with a warning, one good -------------------------
printf '[VM]\nBase=test\nCPUs=lots\nMemory=12\n' >"$defs/bad.vm"
printf '[VM]\nBase=test\nColour=blue\n' >"$defs/warn.vm"
printf '[VM]\nBase=test\n' >"$defs/good.vm"
run_generator
[ "$(grep -c . <<<"$log")" -eq 2 ] || fail "expected 2 records (bad.vm, warn.vm), got the above"
grep -F "VM 'bad' cannot start" <<<"$log" | grep -F "$defs/bad.vm:3: Invalid CPUs=lots" |
        grep -qF "$defs/bad.vm:4: Invalid Memory=12" || fail "no single record for bad.vm with both reasons and lines"
grep -F "$defs/warn.vm:3: Unknown key Colour=" <<<"$log" >/dev/null || fail "no record for warn.vm's warning"
! grep -qF "VM 'good'" <<<"$log" || fail "the good definition was reported"
echo "ok: one record per problem file, with file:line and the reason"

# ---- more rejected files than the kernel takes at once ------------------------
rm -f "$defs"/*.vm
for i in $(seq -w 1 15); do
        printf '[VM]\nBase=test\nCPUs=x%s\n' "$i" >"$defs/many$i.vm"
done
sleep 6 # the kernel's rate limit is per open, but start from a full burst
run_generator
shown=$(grep -c "VM 'many" <<<"$log" || true)
[ "$(grep -c . <<<"$log")" -eq 10 ] || fail "expected 10 records, got the above"
[ "$shown" -eq 9 ] || fail "expected 9 rejected files in the kernel log before the count, got $shown"
grep -qF "6 more messages not logged here" <<<"$log" || fail "no record says how many were left out"
echo "ok: 15 rejected files: 9 shown, the 10th record says 6 more were left out"
echo PASS
