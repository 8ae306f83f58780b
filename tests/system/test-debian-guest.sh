#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A real Debian 12 guest (the base `cowvm-mkbase debootstrap` makes) through a
# real systemd: `systemctl start vm@NAME` returns once the guest's systemd
# reported READY=1, and the guest itself then reports, on its serial console
# (which lands in `journalctl -u vm@NAME`), what config-inject gave it:
#   - Hostname=, the stable machine-id derived from the VM's name,
#   - the systemd-networkd file matched by the VM's MAC, networkd enabled, and
#     the NIC (a tap on a bridge made in the container) configured by it with
#     Address=, Gateway= and DNS=,
#   - PasswordHash= in /etc/shadow, SSHAuthorizedKey= in root's authorized_keys,
#   - cowvm-ready.service active, and no unit failed.
# The report comes from a oneshot unit the test puts into the VM's upper layer
# before the first start, as an administrator preparing the VM's disk would.
# `systemctl stop vm@NAME` must then power the guest off through the ACPI
# power button (systemd-logind acts on it): the unit ends inactive, not
# failed, and nothing of the VM is left. Prints how long start and stop took.
#
# test-debian-guest.sh BUILDDIR
#
# The base is the one the mkbase test builds and caches
# ($COWVM_TEST_CACHE/mkbase, default /var/cache/cowvm-test/mkbase), with the
# same stamp protocol: whichever test comes first builds it (debootstrap from
# the host's Debian mirror, a few minutes), the others reuse it. Without a
# cached base and without debootstrap or a reachable mirror, the test is
# skipped and says why. $COWVM_TEST_DEBIAN_BASE names another base tree.

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"

BUILD=$(realpath "${1:?usage: $0 BUILDDIR}")
NAME=debian-guest
HOSTNAME_SET=guest-one
NET=10.78.0

require_root "systemd-nspawn, overlay mounts, QEMU"

rc=0
DEBIAN=$(cowvm_debian_base "$BUILD") || rc=$?
case $rc in
0) ;;
2) skip "no Debian guest to test: $DEBIAN" ;;
*) fail "could not get the Debian base: $DEBIAN" ;;
esac
# Keep other tests from replacing the base under the running guest.
cowvm_debian_hold

# ---- what the definition gives the guest ------------------------------------

require_cmd ssh-keygen openssh-client
ssh-keygen -q -t ed25519 -N '' -C "cowvm-test@$NAME" -f "$(harness_dir)/id_ed25519" || fail "ssh-keygen failed"
KEY=$(cat "$(harness_dir)/id_ed25519.pub")
# openssl (package openssl) is on nearly every Debian system; Python's crypt
# module is the fallback (deprecated, still in Debian 12's Python 3.11).
if command -v openssl >/dev/null; then
        HASH=$(openssl passwd -6 "cowvm-test-$$") || fail "openssl passwd failed"
elif command -v python3 >/dev/null; then
        HASH=$(python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.METHOD_SHA512))' "cowvm-test-$$") ||
                fail "python3 crypt failed"
else
        skip "neither openssl nor python3 to make a password hash (package openssl)"
fi
[[ $HASH == '$6$'* ]] || fail "not a SHA-512 crypt hash: $HASH"

# The identity cowvm derives from the name (lib/vm-identity.c): machine-id
# is the first 16 bytes of sha256("cowvm:machine-id:NAME") with the RFC 4122
# version 4 and variant bits; the MAC the first 6 of sha256("cowvm:mac:NAME"),
# locally administered, unicast.
h=$(printf 'cowvm:machine-id:%s' "$NAME" | sha256sum | cut -c1-32)
MACHINE_ID=${h:0:12}4${h:13:3}$(printf '%x' $(( (0x${h:16:1} & 0x3) | 0x8 )))${h:17:15}
h=$(printf 'cowvm:mac:%s' "$NAME" | sha256sum | cut -c1-12)
MAC=$(printf '%02x' $(( (0x${h:0:2} & 0xfe) | 0x02 )))${h:2:10}
MAC=$(sed 's/../&:/g; s/:$//' <<<"$MAC")

# ---- the container, a bridge, the VM's definition and disk ---------------------

cowvm_boot "$BUILD" --bind-ro="$DEBIAN:/var/lib/cowvm/bases/debian"
C test -x /var/lib/cowvm/bases/debian/lib/systemd/systemd || fail "the base bound into the container has no systemd"

step "bridge cowbr0 in the container's network namespace"
C ip link add cowbr0 type bridge
C ip address add "$NET.1/24" dev cowbr0
C ip link set cowbr0 up

C sh -c "cat > /etc/cowvm/$NAME.vm" <<EOF
[VM]
Base=debian
Hypervisor=qemu
CPUs=2
Memory=1G
# A Debian guest under QEMU's TCG emulation, on a loaded CI machine.
TimeoutStartSec=15min
TimeoutStopSec=3min

[Guest]
Hostname=$HOSTNAME_SET
PasswordHash=$HASH
SSHAuthorizedKey=$KEY

[Network]
Bridge=cowbr0
Address=$NET.10/24
Gateway=$NET.1
DNS=$NET.1
EOF

# The VM's disk, prepared before its first start: a oneshot unit that
# reports to the serial console. It is pulled in by cowvm-ready.service and
# ordered after it: in multi-user.target.wants it could not be ordered after
# cowvm-ready, which itself comes after multi-user.target.
step "a report unit in the upper layer of $NAME"
UPPER=/var/lib/cowvm/vms/$NAME/upper
C mkdir -m 0700 -p "/var/lib/cowvm/vms/$NAME"
C mkdir -p "$UPPER/etc/systemd/system/cowvm-ready.service.wants"
C sh -c "cat > $UPPER/etc/cowvm-check.sh && chmod 0755 $UPPER/etc/cowvm-check.sh" <<'EOF'
#!/bin/sh
# Reports on the serial console what config-inject gave this guest, each
# line prefixed by "COWVM-CHECK KEY ".
p() { sed "s/^/COWVM-CHECK $1 /"; }
report() {
        echo "COWVM-CHECK begin"
        hostname | p hostname
        cat /etc/machine-id | p machine-id
        cat /etc/systemd/network/90-cowvm.network | p network-file
        systemctl is-enabled systemd-networkd.service | p networkd-enabled
        # networkd configures the link asynchronously to the boot.
        /lib/systemd/systemd-networkd-wait-online --any --timeout=120; echo "$?" | p wait-online
        for d in /sys/class/net/*; do echo "${d##*/} $(cat "$d/address")"; done | p link
        ip -o -4 address show | p address
        ip -4 route show default | p route
        networkctl list --no-pager --no-legend | p networkctl
        resolvectl dns | p dns
        getent shadow root | cut -d: -f2 | p shadow
        cat /root/.ssh/authorized_keys | p authorized-keys
        stat -c '%a %U' /root/.ssh/authorized_keys | p authorized-keys-mode
        systemctl is-active cowvm-ready.service | p ready
        systemctl --failed --no-legend --no-pager | p failed
        echo "COWVM-CHECK end"
}
report >/run/cowvm-check.txt 2>&1
# The serial getty shares ttyS0 and hangs it up when it starts, which may be
# only now (Type=idle): write once agetty runs and waits for a login name.
i=0
while [ $i -lt 60 ]; do
        pid=$(systemctl show -p MainPID --value serial-getty@ttyS0.service)
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = agetty ] && break
        sleep 1
        i=$((i + 1))
done
sleep 2
{ echo; cat /run/cowvm-check.txt; } >/dev/ttyS0
EOF
C sh -c "cat > $UPPER/etc/systemd/system/cowvm-check.service" <<'EOF'
[Unit]
Description=cowvm system test: report the injected configuration
After=cowvm-ready.service systemd-networkd.service

[Service]
Type=oneshot
ExecStart=/etc/cowvm-check.sh
EOF
C ln -s ../cowvm-check.service "$UPPER/etc/systemd/system/cowvm-ready.service.wants/cowvm-check.service"

C systemctl daemon-reload

# ---- start ---------------------------------------------------------------------

step "systemctl start vm@$NAME"
t0=$EPOCHREALTIME
C systemctl start "vm@$NAME" ||
        fail "systemctl start vm@$NAME failed: $(C systemctl status --no-pager -n 30 "vm@$NAME" 2>&1)"
T_START=$(elapsed "$t0" "$EPOCHREALTIME")
[ "$(unit_state "vm@$NAME")" = active ] || fail "vm@$NAME is $(unit_state "vm@$NAME") after start"
status=$(C systemctl status --no-pager "vm@$NAME" 2>&1) || true
grep -q "Guest ready" <<<"$status" || fail "systemctl status does not say the guest is ready: $status"
ok "systemctl start vm@$NAME returned with the Debian guest ready after ${T_START}s"

report_done() { grep -q "COWVM-CHECK end" <<<"$(vm_console "$NAME")"; }
harness_wait_for "end of the guest's report on its serial console" 300 report_done
CONSOLE=$(vm_console "$NAME")
grep -q "COWVM-CHECK end" <<<"$(C journalctl --no-pager -o cat -u "vm@$NAME")" ||
        fail "the guest's serial console is not in journalctl -u vm@$NAME"
# field KEY: the report's lines for KEY, without the prefix.
field() {
        sed -n "s/^.*COWVM-CHECK $1 //p" <<<"$CONSOLE"
}
bad_report() {
        echo "--- the guest's report:" >&2
        grep "COWVM-CHECK" <<<"$CONSOLE" >&2 || true
        fail "$*"
}

[ "$(field hostname)" = "$HOSTNAME_SET" ] || bad_report "the guest's hostname is '$(field hostname)', not $HOSTNAME_SET"
ok "hostname: $(field hostname)"

[ "$(field machine-id)" = "$MACHINE_ID" ] ||
        bad_report "the guest's machine-id is '$(field machine-id)', not the one derived from its name, $MACHINE_ID"
[ "$(C cat "$UPPER/etc/machine-id")" = "$MACHINE_ID" ] || fail "the upper layer's /etc/machine-id differs from $MACHINE_ID"
ok "machine-id: $MACHINE_ID (sha256 of cowvm:machine-id:$NAME, version 4)"

# cowvm-mkbase wrote the SSH keygen unit as config-inject writes it: the first
# start leaves the base's in place instead of copying it up, and the guest
# made its own host keys with it.
for f in etc/systemd/system/cowvm-ssh-keygen.service etc/systemd/system/multi-user.target.wants/cowvm-ssh-keygen.service; do
        if C test -e "$UPPER/$f" -o -L "$UPPER/$f"; then
                fail "the VM's first start copied /$f of the base into its upper layer"
        fi
done
C test -s "$UPPER/etc/ssh/ssh_host_ed25519_key.pub" || fail "the guest made no SSH host key of its own"
ok "the base's cowvm-ssh-keygen.service was left in place and made the guest's own host keys"

netfile=$(field network-file)
for want in "MACAddress=$MAC" "Address=$NET.10/24" "Gateway=$NET.1" "DNS=$NET.1"; do
        grep -qix "$want" <<<"$netfile" || bad_report "the guest's /etc/systemd/network/90-cowvm.network has no $want"
done
[ "$(field networkd-enabled)" = enabled ] ||
        bad_report "systemd-networkd is '$(field networkd-enabled)' in the guest, not enabled"
IFACE=$(field link | awk -v m="$MAC" 'tolower($2) == m { print $1 }')
[ -n "$IFACE" ] || bad_report "the guest has no NIC with the VM's MAC $MAC"
grep -q "^[0-9]*: $IFACE .*inet $NET.10/24" <<<"$(field address)" ||
        bad_report "the guest's $IFACE does not have $NET.10/24"
grep -q "^default via $NET.1 dev $IFACE" <<<"$(field route)" ||
        bad_report "the guest has no default route via $NET.1 on $IFACE"
grep -Eq "^ *[0-9]+ $IFACE +ether +routable +configured" <<<"$(field networkctl)" ||
        bad_report "systemd-networkd did not configure $IFACE"
grep -q "$IFACE.*$NET.1" <<<"$(field dns)" || bad_report "the guest's resolver has no DNS $NET.1 for $IFACE"
ok "network: $IFACE ($MAC) configured by systemd-networkd from 90-cowvm.network: $NET.10/24 via $NET.1, DNS $NET.1"

[ "$(field shadow)" = "$HASH" ] || bad_report "root's password hash in the guest is '$(field shadow)', not PasswordHash="
ok "PasswordHash= is root's hash in the guest's /etc/shadow"
grep -qxF "$KEY" <<<"$(field authorized-keys)" || bad_report "root's authorized_keys in the guest lacks the key"
[ "$(field authorized-keys-mode)" = "600 root" ] ||
        bad_report "root's authorized_keys is '$(field authorized-keys-mode)', not mode 600 owned by root"
ok "SSHAuthorizedKey= is in the guest's /root/.ssh/authorized_keys (0600, root)"
[ "$(field ready)" = active ] || bad_report "cowvm-ready.service is '$(field ready)' in the guest"
ok "cowvm-ready.service is active in the guest"
[ -z "$(field failed)" ] || bad_report "units failed in the guest: $(field failed)"
ok "no unit failed in the guest"

# ---- stop ----------------------------------------------------------------------

step "systemctl stop vm@$NAME"
t0=$EPOCHREALTIME
C systemctl stop "vm@$NAME"
T_STOP=$(elapsed "$t0" "$EPOCHREALTIME")
state=$(unit_state "vm@$NAME")
[ "$state" = inactive ] || fail "vm@$NAME is $state after stop, not inactive: $(C systemctl status --no-pager -n 30 "vm@$NAME" 2>&1)"
journal=$(C journalctl --no-pager -o cat -u "vm@$NAME")
grep -q "The VM powered off" <<<"$journal" ||
        fail "ch-launch did not see the guest power off: $(tail -n 30 <<<"$journal")"
! grep -q "stopping it hard\|Stopping the VM hard" <<<"$journal" || fail "the VM was stopped hard, not by the guest"
grep -q "reboot: Power down" <<<"$(vm_console "$NAME")" || fail "the guest's kernel did not say it powered down"
wait_vm_gone "$NAME"
ok "systemctl stop vm@$NAME: the guest powered off through the ACPI button in ${T_STOP}s, unit inactive, nothing left"
C test -s "$UPPER/etc/machine-id" || fail "the upper layer is gone after stop"

report_cgroup_trouble
echo "debian-guest: start ${T_START}s (to READY=1), stop ${T_STOP}s"
echo PASS
