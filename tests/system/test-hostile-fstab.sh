#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A guest that tries to brick its own VM through config-inject: it writes an
# /etc/fstab just under what config-inject reads back (16 MiB), made of
# block-device lines that config-inject disables by prefixing each one.
# Edited as it used to be, the file grew past the limit and every later
# start was refused. Now the VM starts again and again, the file stays
# within the limit, and the journal says why it was left alone.
#
# test-hostile-fstab.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

vm_define fs "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
        "TimeoutStartSec=10min" "TimeoutStopSec=5min"
C systemctl daemon-reload

vm_create fs

# The attack, from inside the guest at its next boot: 16 MiB less a little
# of 9-byte lines "/dev/x y", then a power-off so that the host starts it
# again.
upper=/var/lib/cowvm/vms/fs/upper
vm_hook fs 50-fstab.sh <<'EOF'
#!/bin/sh
[ -e /root/fstab-planted ] && exit 0
yes '/dev/x y' | head -c 16777000 > /etc/fstab
touch /root/fstab-planted
sync
echo "hook: fstab planted ($(wc -c < /etc/fstab) bytes)"
EOF

step "the guest plants its fstab"
C systemctl start vm@fs || fail "vm@fs did not start: $(C systemctl status --no-pager vm@fs)"
planted() { grep -q "^hook: fstab planted" <<<"$(vm_console_this_run fs)"; }
harness_wait_for "the guest's fstab" 300 planted
C systemctl stop vm@fs
wait_vm_gone fs

for run in 1 2; do
        step "start $run after the attack"
        C systemctl start vm@fs || fail "start $run after the guest's fstab was refused: $(C systemctl status --no-pager -n 30 vm@fs)"
        C systemctl stop vm@fs
        wait_vm_gone fs
done
size=$(C stat -c %s "$upper/etc/fstab")
[ "$size" -le 16777216 ] || fail "config-inject wrote a $size-byte /etc/fstab, more than it reads back"
grep -qF "Leaving '/etc/fstab' in the VM root" <<<"$(C journalctl --no-pager -o cat -u vm@fs)" ||
        fail "the journal does not say why /etc/fstab was left alone"
ok "a guest's 16 MiB fstab: vm@fs starts twice more, /etc/fstab stays $size bytes, the journal says why"

report_cgroup_trouble
echo PASS
