#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-verify.sh GENERATOR CASEDIR UNITFILE... -- HELPER...
#
# systemd-analyze verify of the shipped unit templates, instantiated, and of
# what the generator makes of CASEDIR/input/etc. The units name their helpers
# by their installed path; here those are pointed at the built helpers, so
# verify also checks that every ExecStart= binary exists. verify prints
# nothing for a clean unit: any output fails the test.
set -eu
# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"
gen=$1 case=$2
shift 2
units=() helpers=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do units+=("$1"); shift; done
shift
helpers=("$@")

require_cmd systemd-analyze systemd

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/gen" "$tmp/bin"
for h in "${helpers[@]}"; do ln -s "$(realpath "$h")" "$tmp/bin/$(basename "$h")"; done
helperdir=$(sed -n 's|^ExecStart=\(.*\)/ch-launch .*|\1|p' "${units[@]}" | head -n1)
[ -n "$helperdir" ] || fail "cannot find the helper directory in the units"
for u in "${units[@]}"; do sed "s|$helperdir/|$tmp/bin/|g" "$u" >"$tmp/units/$(basename "$u")"; done

COWVM_DEFINITION_PATH=$(realpath "$case")/input/etc COWVM_LOG_TARGET=console "$gen" "$tmp/gen"

names=()
for vm in $(cd "$tmp/gen" && ls -d vm@*.service.d | sed 's/^vm@\(.*\)\.service\.d$/\1/'); do
        names+=("vm@$vm.service" "virtiofsd@$vm.socket" "virtiofsd@$vm.service" "overlay-prepare@$vm.service")
done
names+=(vm@undefined.service)
while IFS= read -r m; do names+=("$m"); done < <(cd "$tmp/gen" && ls -- *.mount *.slice)

echo "verifying: ${names[*]}"
out=$(cd "$tmp" && SYSTEMD_UNIT_PATH="$tmp/units:$tmp/gen:" systemd-analyze verify --man=no "${names[@]}" 2>&1) || rc=$?
if [ -n "$out" ] || [ "${rc:-0}" -ne 0 ]; then
        printf '%s\n' "$out"
        fail "systemd-analyze verify complained (exit ${rc:-0})"
fi
echo "all units verified"
