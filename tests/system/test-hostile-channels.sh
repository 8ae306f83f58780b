#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A hostile guest on the channels it has to the host (QEMU): the notify
# channel (hvc0) and the serial console. The guest attacks as any guest
# could, from a hook of its own root, and the host checks what it still has:
#
#   a) assignments smuggled behind STATUS= (systemd splits a notification at
#      '\r' too): MAINPID= of a host process, WATCHDOG=trigger, ERRNO=. The
#      victim must live on, vm@NAME keep ch-launch as its main PID and no
#      errno, and no control character reach StatusText;
#   b) a flood of STATUS= lines: what reaches systemd is coalesced (one
#      update per 250 ms, ch-launch(8)), and the last one sent is what shows;
#   c) a flood of lines on hvc0 and the console while journald does not
#      read (SIGSTOP): ch-launch's memory stays within its journal queue's
#      bound (it stops reading the console, whose writes then block, and
#      drops hvc0's non-protocol lines with a count); afterwards the VM
#      still runs and stops cleanly, and the journal has the count.
#
# Every case runs, and reports, even when an earlier one failed. To look at
# some of them only, name them in $HOSTILE_CASES (default: "a b c").
#
# test-hostile-channels.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

# ch-launch's limits (helpers/ch-launch: GUEST_STATUS_INTERVAL, JOURNAL_QUEUE_MAX).
STATUS_INTERVAL_MS=250
QUEUE_MAX_KB=$((8 * 1024))
# What else ch-launch's RSS may grow by while the queue fills: malloc's and
# the records' own overhead, a read buffer's worth of lines beyond the limit.
SLACK_KB=$((4 * 1024))
# How many lines the guest sends in the STATUS= flood; and in the memory
# flood, MiB on hvc0 beyond which the host's memory would have to show it.
FLOOD_LINES=20000
MEM_TARGET_MB=48

CASES=${HOSTILE_CASES:-a b c}
want() { [[ " $CASES " == *" $1 "* ]]; }


VM=hc
ROOT=/run/cowvm/$VM/root
UPPER=/var/lib/cowvm/vms/$VM/upper

vm_define $VM "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min"
C systemctl daemon-reload

vm_create $VM

# The hook works in the background (init must stay free to handle the power
# button) and takes its orders from files the host writes into the VM's
# root. fd 3 is init's, on /dev/hvc0 in raw mode.
vm_hook $VM 50-hostile.sh <<EOF
#!/bin/sh
(
wait_for() { while [ ! -e "\$1" ]; do sleep 0.2; done; }

# a) smuggled assignments
wait_for /root/victim-pid
read -r victim </root/victim-pid
[ "\$victim" = skip ] || {
printf 'STATUS=x\rMAINPID=%s\rWATCHDOG=trigger\rERRNO=42\n' "\$victim" >&3
printf 'READY=1\rMAINPID=%s\rWATCHDOG=trigger\rERRNO=43\n' "\$victim" >&3
printf 'STATUS=nul\000\rMAINPID=%s\rWATCHDOG=trigger\rERRNO=44\n' "\$victim" >&3
printf 'STATUS=ansi \033[31mred\033[0m\n' >&3
printf 'STATUS=\300\212MAINPID=%s\n' "\$victim" >&3
}
printf 'STATUS=attack sent\n' >&3
echo "hook: attack sent"

# b) STATUS= flood, as fast as the shell goes
wait_for /root/go-status-flood
read -r n </root/go-status-flood
read -r t0 _ </proc/uptime
i=0
while [ \$i -lt \$n ]; do
        i=\$((i + 1))
        echo "STATUS=flood \$i" >&3
done
read -r t1 _ </proc/uptime
echo "\$t0 \$t1" >/root/status-flood-times
echo "hook: status flood done, \$t0 to \$t1"

# c) lines on hvc0 and the console that nobody takes
wait_for /root/go-mem-flood
kb=\$(printf '%01000d' 0)
line=\$(printf '%0200d' 0)
(
        n=0
        while [ ! -e /root/stop-mem-flood ]; do
                j=0
                while [ \$j -lt 1000 ]; do
                        echo "noise \$kb" >&3
                        j=\$((j + 1))
                done
                n=\$((n + 1))
                echo \$n >/root/mem-flood-mb
        done
) &
while [ ! -e /root/stop-mem-flood ]; do
        j=0
        while [ \$j -lt 100 ]; do
                echo "console noise \$line"
                j=\$((j + 1))
        done
done
wait
echo "hook: memory flood stopped"
) </dev/null >/dev/console 2>&1 &
EOF

# wait_quietly SECONDS CMD...: like harness_wait_for, but returns 1 instead
# of ending the test.
wait_quietly() {
        local end=$((${EPOCHREALTIME%.*} + $1))
        shift
        until "$@"; do
                [ "${EPOCHREALTIME%.*}" -lt "$end" ] || return 1
                sleep 0.2
        done
}
status_is() { [ "$(C systemctl show -P StatusText vm@$VM)" = "$1" ]; }
# The journal of this run of vm@NAME: ch-launch's log and the VM's lines.
this_run() { C journalctl --no-pager --all "$@" _SYSTEMD_INVOCATION_ID="$inv"; }

case_a() {
        local victim errno texts good=1

        step "a) MAINPID=, WATCHDOG=trigger, ERRNO= behind STATUS="
        C systemd-run --quiet --unit=victim sleep infinity
        victim=$(C systemctl show -P MainPID victim)
        [ "$victim" -gt 0 ] || fail "no victim"
        C sh -c "echo $victim > $ROOT/root/victim-pid"
        wait_quietly 120 status_is "Guest: attack sent" ||
                soft_fail "StatusText is '$(C systemctl show -P StatusText vm@$VM)', not the guest's last 'attack sent'"
        if ! C kill -0 "$victim" 2>/dev/null || [ "$(unit_state victim)" != active ]; then
                soft_fail "the guest killed host process $victim: victim.service is $(unit_state victim)"
                good=
        fi
        if [ "$(C systemctl show -P MainPID vm@$VM)" != "$pid" ]; then
                soft_fail "the guest made PID $(C systemctl show -P MainPID vm@$VM) the main PID of vm@$VM (ch-launch: $pid)"
                good=
        fi
        errno=$(C systemctl show -P StatusErrno vm@$VM)
        [ "$errno" = 0 ] || { soft_fail "the guest set StatusErrno=$errno on vm@$VM"; good=; }
        [ "$(unit_state vm@$VM)" = active ] || { soft_fail "vm@$VM is $(unit_state vm@$VM) after the attack"; good=; }
        # Every status systemd got, as ch-launch logged it, and the last one.
        texts=$(this_run -o cat | grep -a "Guest status:" || true)
        texts+=$'\n'$(C systemctl show -P StatusText vm@$VM)
        if LC_ALL=C grep -aq '[[:cntrl:]]' <<<"$texts"; then
                soft_fail "control characters reached vm@$VM's status: $(LC_ALL=C grep -a '[[:cntrl:]]' <<<"$texts" | od -c | head -4)"
                good=
        fi
        grep -aq "Refused .* on the notify channel (hvc0)" <<<"$(this_run -o cat)" ||
                { soft_fail "ch-launch did not report the lines it refused"; good=; }
        [ -z "$good" ] || ok "smuggled MAINPID=/WATCHDOG=trigger/ERRNO= did nothing: victim $victim alive, MainPID still ch-launch's ($pid), StatusErrno 0, no control character in the status"
}

case_b() {
        local t0 t1 fwd n span bound dur good=1

        step "b) $FLOOD_LINES STATUS= lines"
        C sh -c "echo $FLOOD_LINES > $ROOT/root/go-status-flood"
        flood_done() { C test -s $UPPER/root/status-flood-times; }
        harness_wait_for "the end of the guest's STATUS= flood" 600 flood_done
        read -r t0 t1 < <(C cat $UPPER/root/status-flood-times)
        dur=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }')
        if ! wait_quietly 60 status_is "Guest: flood $FLOOD_LINES"; then
                soft_fail "StatusText after the flood is '$(C systemctl show -P StatusText vm@$VM)', not the last one sent ('Guest: flood $FLOOD_LINES')"
                good=
        fi
        # What ch-launch forwarded, with the journal's timestamps: at most one
        # per interval over the span from the first to the last, plus one for
        # the first and two for the journal's own reception jitter.
        fwd=$(this_run -o short-unix | grep -a "ch-launch\[[0-9]*\]: Guest status: flood " || true)
        read -r n span < <(awk 'NF { if (!first) first = $1; last = $1; n++ } END { printf "%d %.3f\n", n, last - first }' <<<"$fwd")
        bound=$(awk -v s="$span" -v i="$STATUS_INTERVAL_MS" 'BEGIN { printf "%d\n", s * 1000 / i + 3 }')
        if [ "$n" -lt 1 ] || [ "$n" -gt "$bound" ]; then
                soft_fail "ch-launch forwarded $n of the $FLOOD_LINES STATUS= lines the guest sent in ${dur}s; at one per ${STATUS_INTERVAL_MS} ms over the ${span}s between the first and the last, at most $bound"
                good=
        fi
        [ -z "$good" ] || ok "a flood of $FLOOD_LINES STATUS= lines in ${dur}s: $n forwarded over ${span}s (at most $bound), the last one shown"
}

rss() { awk '/^VmRSS:/ { print $2 }' <<<"$(C cat /proc/"$pid"/status)"; }
# shellcheck disable=SC2016
journald_cont() { C sh -c 'kill -CONT $(pidof systemd-journald)' 2>/dev/null || true; }
# A stopped journald would hang the container's shutdown.
exit_journald_cont() {
        local rc=$?
        journald_cont
        (exit "$rc")
        _harness_exit
}

case_c() {
        local base max r sent=0 prev=-1 still=0 limit good=1

        step "c) lines on hvc0 and the console while journald is stopped"
        base=$(rss)
        trap exit_journald_cont EXIT
        # shellcheck disable=SC2016
        C sh -c 'kill -STOP $(pidof systemd-journald)'
        C sh -c "echo go > $ROOT/root/go-mem-flood"
        # Sample until the guest has sent MEM_TARGET_MB, or its writes have
        # stalled for 10 samples in a row, or 180 samples: when to stop
        # looking, not what is asserted. (ch-launch keeps reading hvc0 and
        # drops its non-protocol lines, so the guest's writes there do not
        # block.)
        max=$base
        for _ in $(seq 1 180); do
                sleep 1
                r=$(rss)
                [ "$r" -le "$max" ] || max=$r
                # (the guest rewrites it: empty for a moment)
                r=$(C cat $UPPER/root/mem-flood-mb 2>/dev/null || true)
                [[ ! $r =~ ^[0-9]+$ ]] || sent=$r
                [ "$sent" -lt "$MEM_TARGET_MB" ] || break
                if [ "$sent" = "$prev" ]; then still=$((still + 1)); else still=0; fi
                [ "$still" -lt 10 ] || break
                prev=$sent
        done
        journald_cont
        trap _harness_exit EXIT
        C sh -c "echo stop > $ROOT/root/stop-mem-flood"
        limit=$((base + QUEUE_MAX_KB + SLACK_KB))
        if [ "$max" -gt "$limit" ]; then
                soft_fail "ch-launch grew from ${base} kB to ${max} kB VmRSS (bound ${limit} kB) while the guest sent ${sent} MiB on hvc0"
                good=
        fi
        [ "$sent" -ge 1 ] || { soft_fail "the guest's flood did not get going (${sent} MiB sent)"; good=; }
        stopped_flood() { grep -q "^hook: memory flood stopped" <<<"$(vm_console_this_run $VM)"; }
        wait_quietly 300 stopped_flood || { soft_fail "the guest did not end its flood"; good=; }
        dropped_counted() { grep -q "Dropped [0-9]* lines\? of the notify channel" <<<"$(C journalctl --no-pager -o cat -u vm@$VM _SYSTEMD_INVOCATION_ID="$inv")"; }
        wait_quietly 120 dropped_counted || { soft_fail "no warning counts the hvc0 lines dropped while the journal was full"; good=; }
        [ "$(unit_state vm@$VM)" = active ] || { soft_fail "vm@$VM is $(unit_state vm@$VM) after the flood"; good=; }
        [ "$(C systemctl show -P MainPID vm@$VM)" = "$pid" ] || { soft_fail "vm@$VM has a new main PID after the flood"; good=; }
        [ -z "$good" ] || ok "journald stopped, the guest sent ${sent} MiB on hvc0 and flooded the console: ch-launch's VmRSS ${base} kB, at most ${max} kB (bound ${limit} kB)"
}

step "start $VM"
C systemctl start vm@$VM || fail "systemctl start vm@$VM failed: $(C systemctl status --no-pager vm@$VM)"
pid=$(C systemctl show -P MainPID vm@$VM)
inv=$(C systemctl show -P InvocationID vm@$VM)
[ "$(C cat /proc/"$pid"/comm)" = ch-launch ] || fail "the main PID of vm@$VM is not ch-launch's"

if want a; then case_a; else C sh -c "echo skip > $ROOT/root/victim-pid"; fi
if want b; then case_b; else C sh -c "echo 0 > $ROOT/root/go-status-flood"; fi
if want c; then case_c; else C sh -c "echo stop > $ROOT/root/stop-mem-flood; echo go > $ROOT/root/go-mem-flood"; fi

step "stop $VM"
if C systemctl stop vm@$VM; then
        [ "$(unit_state vm@$VM)" = inactive ] || soft_fail "vm@$VM is $(unit_state vm@$VM) after stop"
        [ "$(C systemctl show -P Result vm@$VM)" = success ] || soft_fail "vm@$VM ended with result $(C systemctl show -P Result vm@$VM)"
else
        soft_fail "systemctl stop vm@$VM failed: $(C systemctl status --no-pager vm@$VM)"
fi
wait_vm_gone $VM
! want a || [ "$(unit_state victim)" = active ] || soft_fail "victim.service is $(unit_state victim) at the end"
[ "$TEST_SOFT_FAILURES" -gt 0 ] || ok "vm@$VM stopped cleanly after all of it (result success), nothing left behind"

report_cgroup_trouble
soft_failures_exit
echo PASS
