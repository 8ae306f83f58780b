#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-fuzzer.sh FUZZER SECONDS SEED...: runs a libFuzzer binary for a bounded
# time on a scratch corpus seeded with the given files. A crash fails the
# test and leaves the input that caused it in the build directory.
set -eu
# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"
fuzzer=$1 seconds=$2
shift 2
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp -- "$@" "$corpus/"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$PWD/" "$corpus"
