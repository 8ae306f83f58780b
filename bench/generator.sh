#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/generator.sh [GENERATOR]: how long cowvm-generator takes for 10, 100
# and 1000 definitions (each with a few keys, like a real one), run the way
# systemd runs it: into a fresh output directory on tmpfs. Prints the median
# and the best of RUNS runs (default 21) per size, and a JSON line for
# tooling. The generator runs at every boot and daemon-reload, so this is the
# cost a host with that many VMs pays each time.
set -eu
gen=$(realpath "${1:-build/generator/cowvm-generator}")
runs=${RUNS:-21}
work=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$work"' EXIT

key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1cD3k7bQ0uAm3cD5Z9mVfYwzR6xrE5c9d8m3uX7k2p admin@example"
json="{"
printf '%-12s %12s %12s %14s\n' definitions "median (ms)" "best (ms)" "per VM (us)"
for n in 10 100 1000; do
        defs="$work/defs-$n"
        mkdir -p "$defs"
        for i in $(seq 1 "$n"); do
                printf '[VM]\nBase=debian-12\nCPUs=2\nMemory=1G\nAutostart=%s\n\n[Guest]\nSSHAuthorizedKey=%s\n\n[Network]\nBridge=br0\nAddress=10.0.%d.%d/16\n' \
                        $((i % 2 ? 1 : 0)) "$key" $((i / 250)) $((i % 250 + 2)) >"$defs/vm-$i.vm"
        done
        times=()
        for r in $(seq 1 "$runs"); do
                out="$work/out-$n-$r"
                mkdir "$out"
                t0=$(date +%s%N)
                COWVM_DEFINITION_PATH="$defs" COWVM_LOG_TARGET=console "$gen" "$out" "$out" "$out"
                t1=$(date +%s%N)
                times+=($(( (t1 - t0) / 1000 )))
                rm -rf "$out"
        done
        sorted=($(printf '%s\n' "${times[@]}" | sort -n))
        median=${sorted[$((runs / 2))]} best=${sorted[0]}
        printf '%-12s %12.2f %12.2f %14.1f\n' "$n" "$(bc -l <<<"$median/1000")" "$(bc -l <<<"$best/1000")" \
                "$(bc -l <<<"$median/$n")"
        json+="\"$n\":{\"median_us\":$median,\"best_us\":$best},"
done
echo "${json%,}}"
