#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What a guest can do to the host through its own root filesystem, and what
# one VM may take from the host:
#
#  - a guest that creates and stats 100,000 files gets no error: virtiofsd,
#    which holds an fd for every inode the guest has looked up, does not run
#    out of them;
#  - a setuid-root binary and a device node the guest planted in its root are
#    dead on the host, where users and tools reach that tree through
#    /run/cowvm/NAME/root: executed from there by an unprivileged user the
#    binary runs with that user's uid, and the node cannot be opened; the
#    guest itself still sees its setuid bit and its node works inside it.
#    The same for an Ephemeral=yes VM;
#  - the VM's hypervisor (and ch-launch) and its virtiofsd run with the
#    limits its definition and cowvm.conf give, set when the VM starts.
#
# test-hostile-guest.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

# The three parts are independent: a failure in one is reported and the others
# still run (soft_fail; the test fails at the end).
GUEST=("Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min")
# A host-wide default and a VM's own value: the units must show both.
C sh -c 'printf "[VM]\nCPUWeight=50\n" > /etc/cowvm/cowvm.conf'
vm_define hg "${GUEST[@]}" "TasksMax=300"
vm_define eph "${GUEST[@]}" "Ephemeral=yes"
C systemctl daemon-reload

vm_create hg

UPPER=/var/lib/cowvm/vms/hg/upper
# A program the guest downloaded, say: any binary of the host's will do, as
# long as it tells the uid it runs with. It arrives owned by an ordinary user;
# the guest's root makes it setuid root.
C mkdir -p "$UPPER/tmp"
C chmod 1777 "$UPPER/tmp"
C install -o 1000 -g 1000 -m 0755 /usr/bin/id "$UPPER/tmp/planted-id"

# At every boot (the test guest's init runs /etc/cowvm-test.d/*.sh in order):
# make the binary setuid root and a device node for what is /dev/zero on the
# host (and in the guest), world-writable; then show what the guest sees.
vm_hook hg 50-plant.sh <<'EOF'
#!/bin/sh
chown 0:0 /tmp/planted-id && chmod 4755 /tmp/planted-id
rm -f /tmp/planted-zero
mknod -m 0666 /tmp/planted-zero c 1 5
echo "hook: planted $(ls -l /tmp/planted-id)"
echo "hook: planted-zero reads $(head -c 4 /tmp/planted-zero | od -An -tx1)"
EOF

# 100,000 files in 20 directories of 5,000, one mkdir (one exec, one FUSE
# request per file) for each: directories are the cheapest files to make.
# Then the guest stats them all again, looked up anew. Every file the guest
# has cached is an open fd in virtiofsd; the guest drops its caches after each
# directory and gives the FORGETs time to reach virtiofsd (they go one
# virtqueue element each, after the fact: with 2 s a guest that created
# faster than they drained ran ahead of them by four directories, 20,000 fds,
# in one run of three), so that some 5,000 to 10,000 are open at once: more
# than the 1024
# a virtiofsd gets without a LimitNOFILE=, and within the hard limit of any
# container the test runs in (one on a machine whose own is 20000, say).
# Errors are collected on the guest's /run (a tmpfs of its own), not on the
# virtio-fs root whose fds may be what is running out.
vm_hook hg 60-files.sh <<'EOF'
#!/bin/sh
read -r t0 _ </proc/uptime
set --
j=0
while [ $j -lt 5000 ]; do
        set -- "$@" "f$j"
        j=$((j + 1))
done
i=0
while [ $i -lt 20 ]; do
        mkdir -p "/many/d$i" && cd "/many/d$i" && mkdir "$@"
        cd /
        echo 2 >/proc/sys/vm/drop_caches
        sleep 5
        i=$((i + 1))
done 2>>/run/files.err
read -r t1 _ </proc/uptime
n=0
for d in /many/d*; do
        n=$((n + $(ls -l "$d" | grep -c '^d')))
        echo 2 >/proc/sys/vm/drop_caches
        sleep 5
done 2>>/run/files.err
read -r t2 _ </proc/uptime
echo "hook: files created=$n errors=$(wc -l </run/files.err) create=${t0}-${t1} stat=${t1}-${t2}"
[ -s /run/files.err ] && echo "hook: first error: $(head -n 1 /run/files.err)"
echo "hook: files done"
EOF

step "start hg with the hooks"
C systemctl start vm@hg || fail "systemctl start vm@hg failed: $(C systemctl status --no-pager vm@hg)"
console() { vm_console_this_run hg; }
planted() { grep -q "^hook: planted-zero" <<<"$(console)"; }
harness_wait_for "the plant hook in hg" 120 planted

# ---- the limits --------------------------------------------------------------
# Set at start by overlay-prepare (no unit file, no daemon-reload) on each of
# the VM's two services, in machine.slice (lib/vm-limits.c says why not one
# slice of its own).
step "the limits of hg"
M=$((1024 * 1024))
check_unit_limits() { # UNIT MEMORYMAX TASKSMAX CPUWEIGHT
        local cg v
        cg=$(C systemctl show -P ControlGroup "$1")
        [ "${cg#/machine.slice/}" != "$cg" ] || { echo "$1 runs in $cg, not below machine.slice"; return 1; }
        for v in "MemoryMax=$2" "TasksMax=$3" "CPUWeight=$4"; do
                [ "$(C systemctl show -p "${v%%=*}" "$1")" = "$v" ] ||
                        { echo "$1 has $(C systemctl show -p "${v%%=*}" "$1"), expected $v"; return 1; }
        done
        # Where the container has the controllers (cgroup v2 with memory and
        # pids delegated), the kernel's limits too.
        if C test -e "/sys/fs/cgroup$cg/memory.max"; then
                for v in "memory.max=$2" "pids.max=$3"; do
                        [ "$(C cat "/sys/fs/cgroup$cg/${v%%=*}")" = "${v#*=}" ] ||
                                { echo "the kernel has $v of $1 as $(C cat "/sys/fs/cgroup$cg/${v%%=*}")"; return 1; }
                done
        else
                echo "NOTE: no memory controller in this container; the kernel's limits were not checked" >&2
        fi
}
check_limits() {
        local qemu cg_vm
        cg_vm=$(C systemctl show -P ControlGroup vm@hg.service)
        qemu=$(C pgrep -f -- ' -name hg ') || { echo "no QEMU of hg"; return 1; }
        grep -q ":$cg_vm\$" <<<"$(C cat "/proc/$qemu/cgroup")" || { echo "QEMU is not in $cg_vm: $(C cat "/proc/$qemu/cgroup")"; return 1; }
        # Memory= + the default MemoryOverhead=; TasksMax= of hg.vm; CPUWeight= of cowvm.conf.
        check_unit_limits vm@hg.service $(((256 + 256) * M)) 300 50 || return 1
        # virtiofsd: MemoryOverhead= alone.
        check_unit_limits virtiofsd@hg.service $((256 * M)) 300 50 || return 1
}
if out=$(check_limits); then
        ok "vm@hg (with QEMU): MemoryMax=512M, virtiofsd@hg: 256M; both TasksMax=300 CPUWeight=50, below machine.slice"
else
        soft_fail "$out"
fi

# ---- setuid and device nodes -------------------------------------------------
step "what hg planted, seen from the host"
out=$(console)
grep -q '^hook: planted -rwsr-xr-x .* root .*/tmp/planted-id$' <<<"$out" ||
        fail "the guest does not see its setuid bit: $(grep '^hook: planted' <<<"$out")"
grep -q '^hook: planted-zero reads  *00 00 00 00$' <<<"$out" ||
        fail "the guest's device node does not work inside the guest: $(grep '^hook: planted-zero' <<<"$out")"
ROOT=/run/cowvm/hg/root
[ "$(C stat -c '%A %u' "$ROOT/tmp/planted-id")" = "-rwsr-xr-x 0" ] ||
        fail "the planted binary is $(C stat -c '%A %u' "$ROOT/tmp/planted-id") on the host, not setuid root"

# run_planted ROOT: executes ROOT/tmp/planted-id as nobody, through an fd
# opened as root (so that no directory permission stands in the way), and
# prints the effective uid it ran with.
run_planted() {
        C sh -c "exec 3<'$1/tmp/planted-id' && setpriv --reuid=65534 --regid=65534 --clear-groups /proc/self/fd/3 -u"
}
euid=$(run_planted "$ROOT") || fail "could not run the planted binary as nobody"
planted_ok=1
if [ "$euid" != 65534 ]; then
        soft_fail "the guest's setuid-root binary ran as uid $euid for an unprivileged host user"
        planted_ok=
fi
if err=$(C sh -c "exec 4<'$ROOT/tmp/planted-zero' && head -c 4 <&4 | od -An -tx1" 2>&1); then
        soft_fail "the guest's device node opens on the host: read '$err'"
        planted_ok=
elif ! grep -q "Permission denied" <<<"$err"; then
        soft_fail "opening the guest's device node failed otherwise than with EACCES: $err"
        planted_ok=
fi
[ -z "$planted_ok" ] ||
        ok "the guest's setuid-root binary runs as uid $euid from $ROOT and its device node cannot be opened there (EACCES); inside the guest both are live"

# ---- many files -------------------------------------------------------------
step "hg creates and stats 100,000 files"
files_done() { grep -q "^hook: files done" <<<"$(console)"; }
t0=$EPOCHREALTIME
harness_wait_for "the files hook in hg" 1800 files_done
echo "the guest's 100,000 files took $(elapsed "$t0" "$EPOCHREALTIME")s (since the plant hook)"
out=$(console)
grep "^hook: files\|^hook: first error" <<<"$out"
C grep -h "Max open files" "/proc/$(C systemctl show -P MainPID virtiofsd@hg.service)/limits" || true
if grep -qi "Too many open files" <<<"$out"; then
        soft_fail "the guest ran out of fds: $(grep -i -m1 "Too many open files" <<<"$out")"
elif ! grep -q "^hook: files created=100000 errors=0 " <<<"$out"; then
        soft_fail "the guest's files: $(grep "^hook: f" <<<"$out")"
elif [ "$(unit_state virtiofsd@hg.service)" != active ]; then
        soft_fail "virtiofsd@hg is $(unit_state virtiofsd@hg.service) after the guest's files"
else
        ok "the guest created and stat'ed 100,000 files without an error"
fi

C systemctl stop vm@hg
wait_vm_gone hg

# ---- the same mount options for an ephemeral VM ------------------------------
step "an ephemeral VM's root"
C systemctl start vm@eph || fail "systemctl start vm@eph failed: $(C systemctl status --no-pager vm@eph)"
ROOT=/run/cowvm/eph/root
opts=$(C findmnt -n -o OPTIONS "$ROOT")
eph_ok=1
case ",$opts," in
*,nosuid,*nodev,* | *,nodev,*nosuid,*) ;;
*) soft_fail "the root of eph is mounted $opts"; eph_ok= ;;
esac
# Planted from the host through the running root this time, as the guest has
# no hook of its own (its upper layer starts empty at every start).
C install -o 0 -g 0 -m 4755 /usr/bin/id "$ROOT/tmp/planted-id"
C mknod -m 0666 "$ROOT/tmp/planted-zero" c 1 5
euid=$(run_planted "$ROOT") || fail "could not run the planted binary as nobody"
[ "$euid" = 65534 ] || { soft_fail "a setuid-root binary in the ephemeral root ran as uid $euid for an unprivileged host user"; eph_ok=; }
! C sh -c "exec 4<'$ROOT/tmp/planted-zero'" 2>/dev/null || { soft_fail "a device node in the ephemeral root opens on the host"; eph_ok=; }
expect_eph=$(((256 + 256) * 1024 * 1024)) # MemoryOverhead= + its tmpfs upper, which virtiofsd writes
v=$(C systemctl show -P MemoryMax virtiofsd@eph.service)
[ "$v" = "$expect_eph" ] || { soft_fail "virtiofsd@eph has MemoryMax=$v, expected $expect_eph"; eph_ok=; }
C systemctl stop vm@eph
wait_vm_gone eph
[ -z "$eph_ok" ] || ok "the ephemeral root is mounted nosuid,nodev too; virtiofsd's MemoryMax counts the tmpfs upper"

report_cgroup_trouble
soft_failures_exit
echo PASS
