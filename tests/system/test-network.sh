#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# VM networking through a real systemd, in the container's own network
# namespace (never the host's interfaces):
#   - br0 made by systemd-networkd from a .netdev and a .network, as
#     docs/networking.md tells a user to;
#   - two busybox guests on it (Bridge=, Address=): each applies the
#     systemd-networkd file config-inject wrote, matched by MAC, and pings the
#     bridge's address and the other guest; the container pings both;
#   - a Debian guest (the cowvm-mkbase debootstrap base, cached) configured by
#     its own systemd-networkd accepts SSH with the injected key and refuses
#     another one;
#   - every tap is gone after a stop, after SIGKILL of ch-launch and after
#     SIGKILL of the hypervisor; a missing bridge fails the start naming it.
# Prints ping round trips and SSH login times (TCG: slow, and no assertion).
#
# test-network.sh BUILDDIR
# The Debian part needs debootstrap and the Debian mirror the first time (the
# base is cached in $COWVM_TEST_CACHE/mkbase, shared with the mkbase test);
# without them it is skipped, loudly, and the busybox part still runs.

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"

BUILD=$(realpath "$1")
NET=10.77.0
A=netcheck-guest-1 # long names that differ only in their last character:
B=netcheck-guest-2 # the hashed form of the tap name ("vh-...") is used

# ---- the Debian base, built by cowvm-mkbase as the mkbase test does -------


DEBIAN=
if [ "$(id -u)" -eq 0 ] && base=$(cowvm_debian_base "$BUILD"); then
        DEBIAN=$base
        # Keep other tests from replacing the base under our running guest.
        cowvm_debian_hold
else
        echo "SKIPPED PART: no Debian base (see above): the SSH checks do not run" >&2
fi

cowvm_boot "$1" ${DEBIAN:+--bind-ro="$DEBIAN:/var/lib/cowvm/bases/debian"}

# ---- the bridge, the way docs/networking.md sets it up ------------------------

C mkdir -p /etc/systemd/network
C sh -c 'cat > /etc/systemd/network/50-br0.netdev' <<'EOF'
[NetDev]
Name=br0
Kind=bridge
EOF
# No uplink in the test: ConfigureWithoutCarrier= puts the address on the
# bridge before the first VM's tap comes up.
C sh -c 'cat > /etc/systemd/network/50-br0.network' <<EOF
[Match]
Name=br0

[Network]
Address=$NET.1/24
ConfigureWithoutCarrier=yes
EOF
# The container's systemd-networkd may have started at boot (presets on an
# empty /etc): restart it to read the new files.
C systemctl restart systemd-networkd.service || fail "systemd-networkd did not start: $(C systemctl status --no-pager systemd-networkd)"
bridge_ready() { grep -q "inet $NET.1/24" <<<"$(C ip -o -4 addr show dev br0 2>/dev/null)"; }
harness_wait_for "address $NET.1 on br0" 60 bridge_ready
ok "systemd-networkd made br0 with $NET.1/24 in the container"

PING=(ping)
command -v ping >/dev/null || PING=(busybox ping)

# ---- two busybox guests ------------------------------------------------------

# The busybox guest has no systemd-networkd: this hook applies the file
# config-inject wrote for it, as networkd would (the interface whose MAC is
# [Match] MACAddress=, every Address=), then pings each address in
# /etc/cowvm-test-ping until it answers.
read -r -d '' NET_HOOK <<'HOOK' || true
#!/bin/sh
say() { echo "cowvm-test-guest: $*"; }
f=/etc/systemd/network/90-cowvm.network
mac= addrs= dev=
while IFS='=' read -r k v; do
        case "$k" in
        MACAddress) mac=$v ;;
        Address) addrs="$addrs $v" ;;
        esac
done <"$f"
for d in /sys/class/net/*; do
        read -r a <"$d/address"
        [ "$a" = "$mac" ] && dev=${d##*/}
done
[ -n "$dev" ] || { say "net: no interface with MAC $mac"; exit 1; }
ip link set "$dev" up
for a in $addrs; do ip addr add "$a" dev "$dev"; done
say "net: $dev $mac$addrs"
for t in $(cat /etc/cowvm-test-ping); do
        i=0
        until ping -c 1 -W 1 "$t" >/dev/null 2>&1; do
                i=$((i + 1))
                [ $i -lt 120 ] || { say "net: ping $t FAILED"; continue 2; }
        done
        say "net: ping $t ok"
done
HOOK

define_busybox() { # NAME ADDRESS PING-TARGETS...
        local name=$1 addr=$2
        shift 2
        vm_define "$name" <<EOF
[VM]
Base=test
Hypervisor=qemu
Memory=256M

[Network]
Bridge=br0
Address=$addr/24
EOF
        printf '%s\n' "$NET_HOOK" | vm_hook "$name" 20-net.sh
        printf '%s\n' "$@" | C sh -c "cat > /var/lib/cowvm/vms/$name/upper/etc/cowvm-test-ping"
}

define_busybox "$A" "$NET.11" "$NET.1" "$NET.12"
define_busybox "$B" "$NET.12" "$NET.1" "$NET.11"
C systemctl daemon-reload
C systemctl start "vm@$A" "vm@$B" || fail "the busybox guests did not start: $(C systemctl status --no-pager "vm@$A" "vm@$B")"

# The taps: named by the VM, on br0, up.
tap_of() { sed -n 's/.*Network: tap \([^ ]*\) on bridge.*/\1/p' <<<"$(C journalctl --no-pager -o cat -u "vm@$1")" | tail -n1; }
TAP_A=$(tap_of "$A")
TAP_B=$(tap_of "$B")
[ -n "$TAP_A" ] && [ -n "$TAP_B" ] || fail "ch-launch did not log the taps: '$TAP_A' '$TAP_B'"
[ "$TAP_A" != "$TAP_B" ] || fail "$A and $B got the same tap $TAP_A"
case "$TAP_A" in vh-netc*) ;; *) fail "tap of $A is $TAP_A, expected the hashed form vh-netc..." ;; esac
ports=$(C ip -o link show master br0)
# (A tap's operstate is UNKNOWN: look at the flags.)
grep -q "$TAP_A: <[^>]*,UP,LOWER_UP>" <<<"$ports" && grep -q "$TAP_B: <[^>]*,UP,LOWER_UP>" <<<"$ports" ||
        fail "the taps are not up on br0: $ports"
ok "taps $TAP_A and $TAP_B are ports of br0 and up"

mac_a=$(sed -n 's/^MACAddress=//p' <<<"$(C cat "/var/lib/cowvm/vms/$A/upper/etc/systemd/network/90-cowvm.network")")
mac_b=$(sed -n 's/^MACAddress=//p' <<<"$(C cat "/var/lib/cowvm/vms/$B/upper/etc/systemd/network/90-cowvm.network")")
[ -n "$mac_a" ] && [ "$mac_a" != "$mac_b" ] || fail "MACs: '$mac_a' '$mac_b'"

for vm in "$A" "$B"; do
        for t in "$NET.1" "$NET.11" "$NET.12"; do
                [ "$t" = "$NET.$([ "$vm" = "$A" ] && echo 11 || echo 12)" ] && continue
                pinged() { grep -q "cowvm-test-guest: net: ping $2 \(ok\|FAILED\)" <<<"$(vm_console "$1")"; }
                harness_wait_for "ping result from $vm to $t" 240 pinged "$vm" "$t"
                grep -q "net: ping $t ok" <<<"$(vm_console "$vm")" ||
                        fail "$vm could not reach $t: $(grep 'net:' <<<"$(vm_console "$vm")")"
        done
        grep -q "net: eth0 $( [ "$vm" = "$A" ] && echo "$mac_a" || echo "$mac_b")" <<<"$(vm_console "$vm")" ||
                fail "$vm did not find its NIC by MAC: $(grep 'net:' <<<"$(vm_console "$vm")")"
done
ok "$A and $B found their NIC by MAC, reach the bridge ($NET.1) and each other"

for t in "$NET.11" "$NET.12"; do
        out=$(C "${PING[@]}" -c 10 -i 0.2 -W 5 "$t") || fail "the container cannot ping $t: $out"
        ok "container -> $t: $(grep -E 'round-trip|rtt' <<<"$out")"
done

# ---- the Debian guest and SSH ----------------------------------------------------

if [ -n "$DEBIAN" ]; then
        C mkdir -p /root/.ssh
        C ssh-keygen -q -t ed25519 -N '' -C good -f /root/.ssh/good
        C ssh-keygen -q -t ed25519 -N '' -C wrong -f /root/.ssh/wrong
        vm_define debnet <<EOF
[VM]
Base=debian
Hypervisor=qemu
CPUs=2
Memory=512M

[Guest]
SSHAuthorizedKey=$(C cat /root/.ssh/good.pub)

[Network]
Bridge=br0
Address=$NET.13/24
EOF
        C systemctl daemon-reload
        t0=$EPOCHREALTIME
        C systemctl start vm@debnet || fail "vm@debnet did not start: $(C systemctl status --no-pager vm@debnet)"
        ok "vm@debnet ready after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"

        SSH=(ssh -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10
             -o LogLevel=ERROR)
        ssh_good() { C "${SSH[@]}" -i /root/.ssh/good root@$NET.13 true 2>/dev/null; }
        harness_wait_for "SSH login to debnet" 180 ssh_good
        ok "SSH login with the injected key works $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s after the start"
        # A guest under emulation on a loaded machine may miss one connect
        # timeout right after its first login: try a few times.
        report() { C "${SSH[@]}" -i /root/.ssh/good root@$NET.13 'cat /etc/hostname; networkctl --no-legend list 2>/dev/null | grep -v lo; ip -o -4 addr show scope global'; }
        for try in 1 2 3; do
                out=$(report 2>&1) && break
                [ "$try" -lt 3 ] || fail "ssh command failed 3 times: $out"
                sleep 5
        done
        grep -qx debnet <<<"$out" || fail "wrong host behind $NET.13: $out"
        grep -q "$NET.13/24" <<<"$out" || fail "debnet does not have $NET.13: $out"
        ok "debnet via its own systemd-networkd: $(grep -m1 'inet' <<<"$out" | awk '{print $2, $4}')"
        times=()
        for _ in 1 2 3; do
                t1=$EPOCHREALTIME
                C "${SSH[@]}" -o ConnectionAttempts=3 -i /root/.ssh/good root@$NET.13 true || fail "ssh login failed"
                times+=("$(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')")
        done
        ok "ssh root@debnet true: ${times[*]} s (TCG)"
        if out=$(C "${SSH[@]}" -i /root/.ssh/wrong root@$NET.13 true 2>&1); then
                fail "ssh with a key that was never injected logged in"
        fi
        grep -q "Permission denied" <<<"$out" || fail "ssh with the wrong key failed, but not for the key: $out"
        ok "a key that was not injected is refused ($(tail -n1 <<<"$out"))"
        C systemctl stop vm@debnet
fi

# ---- the taps go away ---------------------------------------------------------

tap_gone() { ! C ip link show "$1" >/dev/null 2>&1; }

C systemctl stop "vm@$A"
wait_vm_gone "$A"
tap_gone "$TAP_A" || fail "$TAP_A is left after systemctl stop vm@$A"
ok "stop: $TAP_A is gone"

# ch-launch killed: the hypervisor dies with it (PDEATHSIG), and the tap with the hypervisor.
C systemctl kill -s KILL --kill-who=main "vm@$B"
wait_vm_gone "$B"
tap_gone "$TAP_B" || fail "$TAP_B is left after SIGKILL of ch-launch"
ok "SIGKILL of ch-launch: $TAP_B is gone"

# The hypervisor killed.
C systemctl reset-failed "vm@$B" 2>/dev/null || true
C systemctl start "vm@$B"
launcher=$(C systemctl show -P MainPID "vm@$B")
qemu=$(C pgrep -P "$launcher")
[ -n "$qemu" ] || fail "no hypervisor under ch-launch ($launcher)"
C ip link show "$TAP_B" >/dev/null || fail "$TAP_B missing after restart"
C kill -KILL "$qemu"
wait_vm_gone "$B"
[ "$(unit_state "vm@$B")" = failed ] || fail "vm@$B is $(unit_state "vm@$B") after its hypervisor was killed"
tap_gone "$TAP_B" || fail "$TAP_B is left after SIGKILL of the hypervisor"
ok "SIGKILL of the hypervisor: $TAP_B is gone, vm@$B failed"

left=$(C ip -o link show | grep -E ': (vm|vh)-' || true)
[ -z "$left" ] || fail "taps left: $left"

# ---- a missing bridge fails the start, naming it -------------------------------------

vm_define nobridge <<EOF
[VM]
Base=test
Hypervisor=qemu

[Network]
Bridge=br9
EOF
C systemctl daemon-reload
status=$(start_must_fail vm@nobridge)
log=$(C journalctl --no-pager -o cat -u vm@nobridge)
grep -q "Bridge br9 does not exist" <<<"$log" || fail "no clear error for a missing bridge: $log $status"
wait_vm_gone nobridge
ok "a missing bridge: $(grep -m1 'Bridge br9 does not exist' <<<"$log")"
echo PASS
