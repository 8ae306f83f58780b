#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The default network through a real systemd and systemd-networkd, in the
# container's own network namespace:
#   - enabled as docs/networking.md says: the two shipped files linked into
#     /etc/systemd/network, then networkd (re)started;
#   - an "uplink" stands in for the internet: a veth into a network
#     namespace of its own that has 198.51.100.1 and a web server, and the
#     container's default route into it;
#   - a busybox guest (udhcpc, from a hook in its upper layer) and a Debian
#     guest (its own systemd-networkd, DHCP=yes written by config-inject) get
#     their lease; it is the address in /run/cowvm/NAME/address and in the
#     unit's status, and the same after a restart; the container reaches
#     them; they reach 198.51.100.1 through the masquerade;
#   - Forward=: the container reaches the busybox guest's web server and the
#     Debian guest's sshd through a host port; the forward's units are
#     transient, one per forward, and keep working over a daemon-reload;
#     they go away with the VM; what an earlier start left of them (a socket
#     holding the port, a failed proxy) does not fail the next start; a second
#     VM forwarding the same port fails to start, naming the VM that holds
#     it; the lease is gone after the stop;
#   - a new definition with Bridge= and Forward= starts without a
#     daemon-reload, its forward works.
#
# test-default-network.sh BUILDDIR
# The Debian part needs the Debian base (cached, see test-network.sh);
# without it it is skipped, loudly, and the busybox part still runs.

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"

BUILD=$(realpath "$1")
UPLINK=198.51.100.1
LEASES=/run/systemd/network/80-cowvm0.network.d

DEBIAN=
if [ "$(id -u)" -eq 0 ] && base=$(cowvm_debian_base "$BUILD"); then
        DEBIAN=$base
        cowvm_debian_hold
else
        echo "SKIPPED PART: no Debian base (see above): the Debian guest does not run" >&2
fi

cowvm_boot "$1" ${DEBIAN:+--bind-ro="$DEBIAN:/var/lib/cowvm/bases/debian"}

# ---- the uplink, then the default network as the docs enable it -------------

step "uplink and default network"
C ip netns add uplink
C ip link add up0 type veth peer name up1
C ip link set up1 netns uplink
C ip addr add 192.0.2.1/24 dev up0
C ip link set up0 up
C ip -n uplink addr add 192.0.2.2/24 dev up1
C ip -n uplink link set up1 up
C ip -n uplink link set lo up
C ip -n uplink addr add "$UPLINK/32" dev lo
C ip route add default via 192.0.2.2
C mkdir -p /srv/uplink
C sh -c 'echo "uplink says hello" > /srv/uplink/id'
C systemd-run --quiet --unit=uplink-web ip netns exec uplink busybox httpd -f -p 80 -h /srv/uplink

C mkdir -p /etc/systemd/network
# Where the build installs them: /usr/share/cowvm/network with --prefix=/usr.
NETDIR=$(C sh -c 'ls -d /usr/share/cowvm/network /usr/local/share/cowvm/network 2>/dev/null | head -n1')
[ -n "$NETDIR" ] || fail "the default network's files are not installed"
C sh -c "ln -s $NETDIR/* /etc/systemd/network/"

C systemctl restart systemd-networkd.service || fail "systemd-networkd did not start: $(C systemctl status --no-pager systemd-networkd)"
bridge_ready() { grep -q "inet 10.87.0.1/24" <<<"$(C ip -o -4 addr show dev cowvm0 2>/dev/null)"; }
harness_wait_for "address 10.87.0.1 on cowvm0" 60 bridge_ready
ok "the shipped files, linked into /etc/systemd/network, made cowvm0 with 10.87.0.1/24"

# ---- a busybox guest: udhcpc, a web server, a forwarded port ------------------

# The hook finds the NIC by the MAC config-inject wrote, asks for a lease
# with busybox's udhcpc (the script applies it), says what it got, pings the
# uplink and serves its name on port 80.
read -r -d '' DHCP_HOOK <<'HOOK' || true
#!/bin/sh
say() { echo "cowvm-test-guest: $*"; }
mac=$(sed -n 's/^MACAddress=//p' /etc/systemd/network/90-cowvm.network)
dev=
for d in /sys/class/net/*; do
        read -r a <"$d/address"
        [ "$a" = "$mac" ] && dev=${d##*/}
done
[ -n "$dev" ] || { say "dhcp: no interface with MAC $mac"; exit 1; }
ip link set "$dev" up
udhcpc -i "$dev" -s /etc/cowvm-test-udhcpc.sh -q -n -t 30 -T 2 >/dev/null 2>&1 || { say "dhcp: no lease"; exit 1; }
say "dhcp: $(ip -o -4 addr show dev "$dev" | awk '{print $4}') via $(ip route show default | awk '{print $3}')"
i=0
until ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 60 ] || { say "uplink: ping FAILED"; break; }
done
[ $i -lt 60 ] && say "uplink: ping ok"
mkdir -p /srv/www
cat /etc/hostname > /srv/www/index.html
httpd -p 80 -h /srv/www
HOOK

read -r -d '' UDHCPC_SCRIPT <<'SCRIPT' || true
#!/bin/sh
# udhcpc's event script: the lease's address, netmask and router.
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}"
        for r in $router; do ip route replace default via "$r" dev "$interface"; done
        ;;
esac
SCRIPT

define_busybox() { # NAME [EXTRA NETWORK LINE...]
        local name=$1 up=/var/lib/cowvm/vms/$1/upper
        shift
        vm_define "$name" <<EOF
[VM]
Base=test
Hypervisor=qemu
Memory=256M
Kernel=boot/vmlinux
KernelCommandLine=no_timer_check

[Network]
Bridge=cowvm0
$(printf '%s\n' "$@")
EOF
        C mkdir -p "$up/etc/cowvm-test.d"
        printf '%s\n' "$DHCP_HOOK" | C sh -c "cat > $up/etc/cowvm-test.d/20-dhcp.sh && chmod 755 $up/etc/cowvm-test.d/20-dhcp.sh"
        printf '%s\n' "$UDHCPC_SCRIPT" | C sh -c "cat > $up/etc/cowvm-test-udhcpc.sh && chmod 755 $up/etc/cowvm-test-udhcpc.sh"
}

define_busybox bb Forward=8080:80
define_busybox bb2 Forward=8080:80
C systemctl daemon-reload

# What networkd says, for a failure's message.
net_state() {
        C sh -c "ls -l $LEASES; cat $LEASES/*; networkctl --no-pager status -n 30 cowvm0; journalctl --no-pager -o cat -u systemd-networkd | tail -n 40"
}

http_get() { # HOST PORT PATH: the body of an HTTP/1.0 GET, from the container
        C timeout 20 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET %s HTTP/1.0\r\n\r\n" "$2" >&3 && cat <&3' "$@" |
                sed '1,/^\r\?$/d'
}

# Starts busybox VM NAME and checks its lease; prints the address.
start_and_check_lease() {
        local name=$1 addr status leased
        C systemctl start "vm@$name" >&2 || fail "vm@$name did not start: $(C systemctl status --no-pager "vm@$name")"
        addr=$(C cat "/run/cowvm/$name/address") || fail "no /run/cowvm/$name/address"
        case "$addr" in 10.87.0.*) ;; *) fail "the address of $name is '$addr', not on 10.87.0.0/24" ;; esac
        status=$(C systemctl show -P StatusText "vm@$name")
        grep -q "address $addr" <<<"$status" || fail "the status of vm@$name does not show $addr: $status"
        C grep -q "Address=$addr" "$LEASES/cowvm-$name.conf" || fail "no static lease for $name: $(C ls "$LEASES")"
        got_lease() { grep -q "cowvm-test-guest: dhcp: " <<<"$(vm_console_this_run "$1")"; }
        harness_wait_for "the DHCP result of $name" 240 got_lease "$name"
        leased=$(grep -m1 'cowvm-test-guest: dhcp: ' <<<"$(vm_console_this_run "$name")")
        grep -q "dhcp: $addr/24 via 10.87.0.1" <<<"$leased" ||
                fail "$name leased something else than $addr: $leased; $(net_state)"
        echo "$addr"
}

step "busybox guest bb: lease, uplink, forward"
ADDR=$(start_and_check_lease bb)
ok "bb got $ADDR by DHCP, as the unit's status says: $(C systemctl show -P StatusText vm@bb)"
out=$(C ping -c 3 -i 0.2 -W 5 "$ADDR") || fail "the container cannot ping bb at $ADDR: $out"
ok "container -> bb ($ADDR): $(grep -E 'rtt|round-trip' <<<"$out")"
uplink_result() { grep -q "cowvm-test-guest: uplink: " <<<"$(vm_console_this_run bb)"; }
harness_wait_for "bb's ping of the uplink" 120 uplink_result
grep -q "uplink: ping ok" <<<"$(vm_console_this_run bb)" || fail "bb cannot reach $UPLINK through the masquerade"
ok "bb reaches $UPLINK beyond the host through the masquerade"

sock_active() { [ "$(unit_state cowvm-forward-bb-0.socket)" = active ]; }
harness_wait_for "cowvm-forward-bb-0.socket" 30 sock_active
served() { [ "$(http_get 127.0.0.1 8080 /index.html 2>/dev/null)" = bb ]; }
harness_wait_for "bb's web server through host port 8080" 120 served
ok "host port 8080 reaches the web server in bb ($(C systemctl show -P Listen cowvm-forward-bb-0.socket))"

# forward_units_ok NAME N: VM NAME has exactly N forward sockets and at most N
# proxies, all transient (none from the generator), the proxies in
# machine.slice with limits of their own.
forward_units_ok() {
        local name=$1 n=$2 sockets services u
        sockets=$(C systemctl list-units --all --plain --no-legend "cowvm-forward-$name-*.socket" | awk '{print $1}')
        services=$(C systemctl list-units --all --plain --no-legend "cowvm-forward-$name-*.service" | awk '{print $1}')
        [ "$(grep -c . <<<"$sockets")" -eq "$n" ] || fail "VM $name has these forward sockets, not $n: $sockets"
        [ "$(grep -c . <<<"$services")" -le "$n" ] || fail "VM $name has these proxies, more than $n: $services"
        for u in $sockets $services; do
                [ "$(C systemctl show -P Transient "$u")" = yes ] || fail "$u is not transient: $(C systemctl show -P FragmentPath "$u")"
        done
        for u in $services; do
                [ "$(C systemctl show -P Slice "$u")" = machine.slice ] || fail "$u is in $(C systemctl show -P Slice "$u")"
                [ "$(C systemctl show -P MemoryMax "$u")" != infinity ] || fail "$u has no MemoryMax="
        done
        if C sh -c 'ls /run/systemd/generator*/' | grep -q cowvm-forward; then
                fail "the generator wrote forward units: $(C sh -c 'ls /run/systemd/generator*/' | grep cowvm-forward)"
        fi
}
forward_units_ok bb 1

step "daemon-reload while bb runs"
C systemctl daemon-reload
served || fail "bb's forward does not answer after a daemon-reload"
forward_units_ok bb 1
[ "$(unit_state cowvm-forward-bb-0.socket)" = active ] || fail "bb's forward socket is $(unit_state cowvm-forward-bb-0.socket) after a daemon-reload"
ok "after a daemon-reload bb's forward answers, still one transient socket and proxy ($(C systemctl show -P Slice cowvm-forward-bb-0.service), MemoryMax=$(C systemctl show -P MemoryMax cowvm-forward-bb-0.service))"

step "a second VM forwarding the same port"
status=$(start_must_fail vm@bb2)
log=$(C journalctl --no-pager -o cat -u vm@bb2)
grep -q "host port 8080 is forwarded to VM bb already" <<<"$log" || fail "no message naming bb: $log $status"
wait_vm_gone bb2
[ "$(unit_state cowvm-forward-bb-0.socket)" = active ] || fail "bb's forward went away when bb2 failed"
C test ! -e "$LEASES/cowvm-bb2.conf" || fail "bb2's lease is left after its failed start"
ok "bb2 refused: $(grep -m1 'host port 8080' <<<"$log")"

# A hostile guest takes every dynamic lease it can, with made-up client ids:
# the pool is the lower half of the subnet and the static leases are not in
# it, so no other VM's address is handed to the hog.
step "a guest exhausts the dynamic pool"
define_busybox hog
C rm "/var/lib/cowvm/vms/hog/upper/etc/cowvm-test.d/20-dhcp.sh"
C sh -c 'cat > /var/lib/cowvm/vms/hog/upper/etc/cowvm-test.d/30-hog.sh && chmod 755 /var/lib/cowvm/vms/hog/upper/etc/cowvm-test.d/30-hog.sh' <<'HOOK'
#!/bin/sh
dev=$(ls /sys/class/net | grep -v lo | head -n1)
ip link set "$dev" up
n=0
for i in $(seq 1 130); do
        id=$(printf '01fe0000%04x' "$i")
        udhcpc -i "$dev" -x "61:$id" -q -n -t 2 -T 1 -s /bin/true >/dev/null 2>&1 && n=$((n + 1))
done
echo "cowvm-test-guest: hog: $n leases"
HOOK
C systemctl daemon-reload
C systemctl start vm@hog || fail "vm@hog did not start: $(C systemctl status --no-pager vm@hog)"
hog_done() { grep -q "cowvm-test-guest: hog: " <<<"$(vm_console_this_run hog)"; }
harness_wait_for "the hog's lease count" 600 hog_done
hogged=$(grep -m1 -o 'hog: [0-9]* leases' <<<"$(vm_console_this_run hog)")
[ "${hogged//[^0-9]/}" -ge 126 ] || fail "the hog got only $hogged: the pool was not exhausted"
# The leases networkd's DHCP server holds, "ADDR (to CLIENT)": none of
# the static half but bb's own (which the hog's start may have made it
# forget: a reload restarts the server).
leases=$(C networkctl --no-pager status cowvm0 | grep -oE '10\.87\.0\.[0-9]+ \(to ' || true)
[ "$(wc -l <<<"$leases")" -ge 126 ] || fail "networkd holds only $(wc -l <<<"$leases") leases after the hog"
taken=$(awk -F'[. ]' '$4 >= 128 { print $1 "." $2 "." $3 "." $4 }' <<<"$leases" | grep -vx "$ADDR" || true)
[ -z "$taken" ] || fail "addresses of the static half were handed out: $(tr '\n' ' ' <<<"$taken")"
served || fail "bb's forward does not answer after the hog"
C ping -c 1 -W 5 "$ADDR" >/dev/null || fail "bb ($ADDR) does not answer after the hog"
ok "a guest took every dynamic lease ($hogged of 130 tries; the pool has 126); none of the static half, bb still answers"
C systemctl stop vm@hog
wait_vm_gone hog

step "restart bb: the same address"
C systemctl stop vm@bb
wait_vm_gone bb
for u in cowvm-forward-bb-0.socket cowvm-forward-bb-0.service; do
        case "$(unit_state "$u")" in active|activating|deactivating) fail "$u is still $(unit_state "$u") after the stop" ;; esac
done
C test ! -e "$LEASES/cowvm-bb.conf" || fail "bb's lease is left after its stop"
if C bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null; then fail "host port 8080 still accepts after bb stopped"; fi
ok "bb stopped: its forward, its lease and its address file are gone"
# What an earlier start could leave: a socket of the forward's name still
# holding the port, its proxy failed (started by a connection, /bin/false).
C systemd-run --quiet --unit=cowvm-forward-bb-0 --socket-property=ListenStream=8080 /bin/false
C bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null || true
proxy_failed() { [ "$(unit_state cowvm-forward-bb-0.service)" = failed ]; }
harness_wait_for "the planted proxy to fail" 30 proxy_failed
ADDR2=$(start_and_check_lease bb)
[ "$ADDR2" = "$ADDR" ] || fail "bb got $ADDR2 after a restart, $ADDR before"
harness_wait_for "bb's web server after the restart" 120 served
grep -q "cowvm-forward-bb-0.socket and cowvm-forward-bb-0.service, left from an earlier start" <<<"$(C journalctl --no-pager -o cat -u vm@bb)" ||
        fail "vm@bb does not say it cleared the leftover forward units"
forward_units_ok bb 1
ok "bb has $ADDR again after a restart, over a leftover socket on its port and a failed proxy, and its forward works again"

# A definition systemd has never seen, started without daemon-reload: its
# network, its forward and its lease all come at start time.
step "a new VM with Forward= started without daemon-reload"
define_busybox bbnew Forward=8081:80
start_and_check_lease bbnew >/dev/null
served_new() { [ "$(http_get 127.0.0.1 8081 /index.html 2>/dev/null)" = bbnew ]; }
harness_wait_for "bbnew's web server through host port 8081" 120 served_new
forward_units_ok bbnew 1
served || fail "bb's forward does not answer with bbnew running"
ok "bbnew, started without a daemon-reload since its definition was written, serves through host port 8081"
C systemctl stop vm@bbnew
wait_vm_gone bbnew

# ---- a Debian guest: its own systemd-networkd ------------------------------------

if [ -n "$DEBIAN" ]; then
        step "Debian guest"
        C mkdir -p /root/.ssh
        C ssh-keygen -q -t ed25519 -N '' -C test -f /root/.ssh/id
        vm_define debdh <<EOF
[VM]
Base=debian
Hypervisor=qemu
CPUs=2
Memory=512M
TimeoutStartSec=10min

[Guest]
SSHAuthorizedKey=$(C cat /root/.ssh/id.pub)

[Network]
Bridge=cowvm0
Forward=127.0.0.1:2222:22
EOF
        C systemctl daemon-reload
        C systemctl start vm@debdh || fail "vm@debdh did not start: $(C systemctl status --no-pager vm@debdh)"
        DADDR=$(C cat /run/cowvm/debdh/address)
        [ "$DADDR" != "$ADDR" ] || fail "debdh and bb got the same address $DADDR"
        SSH=(ssh -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
             -o ConnectTimeout=10 -o LogLevel=ERROR -i /root/.ssh/id)
        ssh_ok() { C "${SSH[@]}" "root@$DADDR" true 2>/dev/null; }
        for _ in $(seq 1 30); do ssh_ok && break; sleep 10; done
        ssh_ok || fail "no SSH to debdh at its lease $DADDR: $(C ping -c 2 -W 2 "$DADDR" 2>&1 | tail -n 2); $(net_state)"
        out=$(C "${SSH[@]}" "root@$DADDR" 'ip -o -4 addr show scope global; exec 3<>/dev/tcp/198.51.100.1/80; printf "GET /id HTTP/1.0\r\n\r\n" >&3; cat <&3')
        grep -q "inet $DADDR/24" <<<"$out" || fail "debdh does not have $DADDR: $out"
        grep -q "uplink says hello" <<<"$out" || fail "debdh cannot reach $UPLINK: $out"
        ok "debdh got $DADDR from the DHCP server by its own networkd and reaches $UPLINK"
        out=$(C "${SSH[@]}" -p 2222 root@127.0.0.1 hostname) || fail "ssh through host port 2222 failed: $out"
        [ "$out" = debdh ] || fail "host port 2222 led to '$out'"
        ok "host port 2222 (127.0.0.1 only) reaches debdh's sshd"
        C systemctl stop vm@debdh
fi

C systemctl stop vm@bb
wait_vm_gone bb
left=$(C ls -A "$LEASES" 2>/dev/null || true)
[ -z "$left" ] || fail "leases left: $left"
echo PASS
