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
# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"
gen=$(realpath "$1")
cd "$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export COWVM_DEFINITION_PATH=input/etc:input/run:input/usr
export COWVM_STATE_DIR=/var/lib/cowvm COWVM_RUNTIME_DIR=/run/cowvm COWVM_LOG_TARGET=console
mkdir -p "$tmp/empty" "$tmp/one" "$tmp/normal" "$tmp/early" "$tmp/late"
expected=expected
[ -d expected ] || expected="$tmp/empty"

"$gen" "$tmp/one" 2>"$tmp/one.log" || soft_fail "generator exited $? (one output dir)"
"$gen" "$tmp/normal" "$tmp/early" "$tmp/late" 2>"$tmp/three.log" ||
        soft_fail "generator exited $? (three output dirs)"

diff -ru --no-dereference "$expected" "$tmp/one" || soft_fail "units differ (one output dir)"
diff -ru --no-dereference "$expected" "$tmp/normal" || soft_fail "units differ (three output dirs)"
[ -z "$(find "$tmp/early" "$tmp/late" -mindepth 1)" ] || soft_fail "wrote into the early or late directory"
diff -u expected.log "$tmp/one.log" || soft_fail "messages differ"
soft_failures_exit
