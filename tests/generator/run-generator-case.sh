#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-generator-case.sh GENERATOR CASEDIR
#
# Runs the generator over CASEDIR/input/{etc,run,usr} (standing for
# /etc/cowvm, /run/cowvm and /usr/lib/cowvm) into fresh directories, the way
# systemd does (three output dirs) and the way tests may (one), and compares
# the units written with CASEDIR/expected/ and what was logged with
# CASEDIR/expected.log. A case without expected/ expects no output at all.
set -eu
gen=$(realpath "$1")
cd "$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export COWVM_DEFINITION_PATH=input/etc:input/run:input/usr
export COWVM_STATE_DIR=/var/lib/cowvm COWVM_RUNTIME_DIR=/run/cowvm COWVM_LOG_TARGET=console
mkdir -p "$tmp/empty" "$tmp/one" "$tmp/normal" "$tmp/early" "$tmp/late"
expected=expected
[ -d expected ] || expected="$tmp/empty"

fail=0
"$gen" "$tmp/one" 2>"$tmp/one.log" || { echo "FAIL: generator exited $? (one output dir)"; fail=1; }
"$gen" "$tmp/normal" "$tmp/early" "$tmp/late" 2>"$tmp/three.log" ||
        { echo "FAIL: generator exited $? (three output dirs)"; fail=1; }

diff -ru --no-dereference "$expected" "$tmp/one" || { echo "FAIL: units differ (one output dir)"; fail=1; }
diff -ru --no-dereference "$expected" "$tmp/normal" || { echo "FAIL: units differ (three output dirs)"; fail=1; }
[ -z "$(find "$tmp/early" "$tmp/late" -mindepth 1)" ] || { echo "FAIL: wrote into the early or late directory"; fail=1; }
diff -u expected.log "$tmp/one.log" || { echo "FAIL: messages differ"; fail=1; }
exit $fail
