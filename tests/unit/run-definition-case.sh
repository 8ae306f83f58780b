#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-definition-case.sh DUMP CASEDIR: loads the VM named by CASEDIR/name
# from the definitions in CASEDIR and compares everything said (messages
# and the resulting definition) with CASEDIR/expected.
set -eu
# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"
dump=$(realpath "$1")
cd "$2"
actual=$(COWVM_DEFINITION_PATH=. COWVM_STATE_DIR=/var/lib/cowvm COWVM_RUNTIME_DIR=/run/cowvm \
         COWVM_LOG_TARGET=console COWVM_LOG_LEVEL=debug "$dump" "$(cat name)" 2>&1)
diff -u expected - <<<"$actual" || fail "$(basename "$PWD"): output differs from expected (above)."
