#!/bin/bash
# The new-user walkthrough (issue 9): docs/install.md followed step by step, as a new user would,
# to a TLS-secured three-host cluster. The "hosts" are network namespaces hactl-wk-h1..h3
# (10.239.0.11-13 on bridge hactlwkbr0); each runs an etcd member and a hactl agent, installed
# with `systemd/install.sh --root` into its own tree under $W/hN (there is no systemd in a
# namespace: the agent is started with the unit's ExecStart line). The operator is this machine's
# root namespace (10.239.0.1) with its own certificate.
#
# Every command and its output go to the transcript (default $W/../hactl-wk-transcript.txt, or
# the first argument). Everything the script creates is removed on exit, even on failure or
# Ctrl-C: processes by PID, the namespaces, the bridge, the directory. Needs root, etcd-server,
# etcd-client, openssl, iproute2, iputils-arping and a built checkout (npx tsc -p tsconfig.json).
#
# Usage: test/walkthrough/tls-three-hosts.sh [TRANSCRIPT]
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
W=/tmp/hactl-wk
OUT=${1:-/tmp/hactl-wk-transcript.txt}
BR=hactlwkbr0
NET=10.239.0
HOSTS=(h1 h2 h3)
ip_of() { echo "$NET.1${1#h}"; }
ENDPOINTS=https://$NET.11:2379,https://$NET.12:2379,https://$NET.13:2379
PIDS=()

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 4; }
[ -f "$SRC/dist/cli/hactl.js" ] || { echo "build first: npx tsc -p tsconfig.json" >&2; exit 1; }

cleanup() {
  set +e
  # Agents first (SIGTERM: they stop their sets, taking the floating IP down), then etcd.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for h in "${HOSTS[@]}"; do ip netns del "hactl-wk-$h" 2>/dev/null; done
  ip link del "$BR" 2>/dev/null
  # KEEP=1 keeps the files (logs, data, certificates) for a look afterwards.
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A leftover of an interrupted run (same names): remove it first.
for h in "${HOSTS[@]}"; do ip netns del "hactl-wk-$h" 2>/dev/null || true; done
ip link del "$BR" 2>/dev/null || true
rm -rf "$W"
mkdir -p "$W"
: > "$OUT"

# The transcript: "$ command" then its output, as a reader would see them in a terminal.
say() { printf '\n## %s\n' "$*" | tee -a "$OUT"; }
show() { printf '$ %s\n' "$*" | tee -a "$OUT"; }
run() {
  show "$*"
  local rc=0
  (cd "$W" && eval "$*") > "$W/.out" 2>&1 || rc=$?
  tee -a "$OUT" < "$W/.out"
  [ $rc = 0 ] || { printf '(exit %s)\n' "$rc" | tee -a "$OUT"; }
  return $rc
}
# A command expected to fail with exit code $1.
run_fails() {
  local want=$1
  shift
  local rc=0
  run "$@" || rc=$?
  [ "$rc" = "$want" ] || { echo "expected exit $want, got $rc" >&2; exit 1; }
}
# Bounded waits.
wait_for() {
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until (cd "$W" && eval "$*") > /dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "timed out after ${secs}s waiting for: $what" | tee -a "$OUT" >&2; exit 5; }
    sleep 0.3
  done
}
# A long-running process inside host $1, in the background, its output in $2; its PID remembered.
start_on() {
  local h=$1 log=$2
  shift 2
  show "ip netns exec hactl-wk-$h $* > $log 2>&1 &"
  (cd "$W" && exec ip netns exec "hactl-wk-$h" "$@" > "$log" 2>&1) &
  PIDS+=($!)
  disown $!  # killed on purpose later: no "Killed" job notices in the transcript
  echo $! > "$W/$h/.pid-$(basename "$log" .log)"
}

say "0. The hosts: three network namespaces on one bridge (stand-ins for three machines)"
run "ip link add $BR type bridge && ip addr add $NET.1/24 dev $BR && ip link set $BR up"
for h in "${HOSTS[@]}"; do
  mkdir -p "$W/$h"
  ip netns add "hactl-wk-$h"
  ip link add "hwk$h" type veth peer name eth0 netns "hactl-wk-$h"
  ip link set "hwk$h" master "$BR" up
  ip -n "hactl-wk-$h" addr add "$(ip_of "$h")/24" dev eth0
  ip -n "hactl-wk-$h" link set eth0 up
  ip -n "hactl-wk-$h" link set lo up
done
run "ip -br -n hactl-wk-h1 addr show eth0; ip -br -n hactl-wk-h2 addr show eth0; ip -br -n hactl-wk-h3 addr show eth0"

say "1. Packages (install.md §1)"
run "dpkg-query -W -f '\${Package} \${Version}\n' etcd-server etcd-client iproute2 iputils-arping openssl util-linux psmisc"
run "node --version"

say "2. Build and install hactl (install.md §2; --root: each host's own tree)"
show "npx tsc -p tsconfig.json    # in the checkout"
(cd "$SRC" && npx tsc -p tsconfig.json 2>&1 | grep -v '^npm warn' || true)
for h in "${HOSTS[@]}"; do run "$SRC/systemd/install.sh --root $h"; done
run "ls $W/h1/usr/lib/hactl $W/h1/etc/hactl"
HACTL="node $W/h1/usr/lib/hactl/dist/cli/hactl.js"
show "alias hactl='$HACTL'    # what /usr/bin/hactl runs"
hactl() { $HACTL "$@"; }

say "3. Certificates (install.md §3 -> security.md, setup step 1)"
mkdir -p "$W/pki"
# The recipe of docs/security.md, verbatim but for the names and addresses.
run "cd pki && openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem && openssl req -x509 -new -key ca-key.pem -sha256 -days 3650 -subj '/CN=hactl etcd CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem && chmod 600 ca-key.pem"
cat > "$W/pki/cert.sh" <<'CERT'
# cert FILE CN EKU [SAN]: a key and a certificate signed by ca.pem (docs/security.md)
cert() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1-key.pem" && chmod 600 "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr"
  { echo basicConstraints=CA:FALSE; echo keyUsage=critical,digitalSignature,keyEncipherment
    echo "extendedKeyUsage=$3"; [ -z "${4:-}" ] || echo "subjectAltName=$4"; } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 -days 825 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
CERT
run "cd pki && . ./cert.sh && for n in 1 2 3; do cert e\$n e\$n serverAuth,clientAuth IP:$NET.1\$n,IP:127.0.0.1; done"
run "cd pki && . ./cert.sh && for h in h1 h2 h3; do cert \$h hactl-agent-\$h clientAuth; done"
run "cd pki && . ./cert.sh && cert root root clientAuth && cert operator hactl-operator clientAuth && cert observer hactl-observer clientAuth"
run "cd pki && openssl x509 -in h1.pem -noout -subject -ext extendedKeyUsage && openssl x509 -in e1.pem -noout -subject -ext subjectAltName"
for h in "${HOSTS[@]}"; do
  n=${h#h}
  run "mkdir -p $h/etc/etcd/pki $h/etc/hactl/pki && cp pki/ca.pem pki/e$n.pem pki/e$n-key.pem $h/etc/etcd/pki/ && cp pki/ca.pem pki/$h.pem pki/$h-key.pem $h/etc/hactl/pki/ && chmod 600 $h/etc/*/pki/*-key.pem"
done

say "4. etcd on the three hosts, with TLS and the failover flags (install.md §4)"
for h in "${HOSTS[@]}"; do
  n=${h#h}
  ip=$(ip_of "$h")
  start_on "$h" "$h/etcd.log" etcd --name "e$n" --data-dir "$h/var/lib/etcd" \
    --listen-client-urls "https://$ip:2379" --advertise-client-urls "https://$ip:2379" \
    --listen-peer-urls "https://$ip:2380" --initial-advertise-peer-urls "https://$ip:2380" \
    --initial-cluster "e1=https://$NET.11:2380,e2=https://$NET.12:2380,e3=https://$NET.13:2380" \
    --initial-cluster-state new --initial-cluster-token wk \
    --cert-file "$h/etc/etcd/pki/e$n.pem" --key-file "$h/etc/etcd/pki/e$n-key.pem" \
    --trusted-ca-file "$h/etc/etcd/pki/ca.pem" --client-cert-auth \
    --peer-cert-file "$h/etc/etcd/pki/e$n.pem" --peer-key-file "$h/etc/etcd/pki/e$n-key.pem" \
    --peer-trusted-ca-file "$h/etc/etcd/pki/ca.pem" --peer-client-cert-auth \
    --pre-vote=true --grpc-keepalive-min-time=500ms \
    --heartbeat-interval=50 --election-timeout=500
done
ETCDCTL="etcdctl --endpoints $ENDPOINTS --cacert pki/ca.pem --cert pki/root.pem --key pki/root-key.pem"
wait_for "etcd healthy" 60 "$ETCDCTL endpoint health"
run "$ETCDCTL endpoint health"
run "$ETCDCTL member list -w table"

say "5. etcd roles and users, as etcd's root (install.md §5)"
run "hactl rbac print --cluster wk --nodes h1,h2,h3 | head -4"
run "hactl rbac apply --nodes h1,h2,h3 --endpoints $ENDPOINTS --cluster wk --cacert pki/ca.pem --cert pki/root.pem --key pki/root-key.pem"
run "$ETCDCTL user list"
run_fails 1 "etcdctl --endpoints $ENDPOINTS --cacert pki/ca.pem --cert pki/observer.pem --key pki/observer-key.pem put /hactl/wk/config x 2>&1 | grep -v retrying; exit \${PIPESTATUS[0]}"

say "6. Each host's agent.yaml (install.md §6)"
for h in "${HOSTS[@]}"; do
  run "sed -e 's/^node: .*/node: $h/' -e 's/^cluster: .*/cluster: wk/' \
    -e 's|endpoints: .*|endpoints: [https://$NET.11:2379, https://$NET.12:2379, https://$NET.13:2379]|' \
    -e 's|tls: .*|tls: { ca: $W/$h/etc/hactl/pki/ca.pem, cert: $W/$h/etc/hactl/pki/$h.pem, key: $W/$h/etc/hactl/pki/$h-key.pem }|' \
    -e 's|^dataDir: .*|dataDir: $W/$h/var/lib/hactl\nresourceDirs: [$W/$h/etc/hactl/resources.d]|' \
    $h/etc/hactl/agent.yaml.example > $h/etc/hactl/agent.yaml && chmod 640 $h/etc/hactl/agent.yaml"
done
run "cat h1/etc/hactl/agent.yaml"

say "7. Start the agents (install.md §7: the unit's ExecStart line, in each host's namespace)"
for h in "${HOSTS[@]}"; do
  start_on "$h" "$h/agent.log" env UV_THREADPOOL_SIZE=2 node --max-semi-space-size=1 --v8-pool-size=1 \
    "$W/$h/usr/lib/hactl/dist/cli/hactl.js" agent --config "$W/$h/etc/hactl/agent.yaml"
done

wait_for "agents started" 30 "grep -q '\"agent started\"' h1/agent.log && grep -q '\"agent started\"' h2/agent.log && grep -q '\"agent started\"' h3/agent.log"
run "grep -h '\"agent started\"' h1/agent.log | cut -c1-200"
run "ip netns exec hactl-wk-h1 curl -s http://127.0.0.1:7946/health | cut -c1-300; echo"

say "8. Operator access: a file with the operator's certificate (install.md §8)"
mkdir -p "$W/operator"
cat > "$W/operator/hactl.yaml" <<YAML
cluster: wk
etcd:
  endpoints: [https://$NET.11:2379, https://$NET.12:2379, https://$NET.13:2379]
  tls: { ca: $W/pki/ca.pem, cert: $W/pki/operator.pem, key: $W/pki/operator-key.pem }
YAML
run "cat operator/hactl.yaml"
run "export HACTL_CONFIG=$W/operator/hactl.yaml"
export HACTL_CONFIG=$W/operator/hactl.yaml
run "source <(hactl completion bash) && complete -p hactl"
wait_for "three agents online" 60 "hactl status --json | grep -c '\"state\": \"online\"' | grep -qx 3"
run "hactl status"

say "9. The cluster configuration (install.md §9)"
cat > "$W/operator/cluster.yaml" <<YAML
timing:
  leaseTtl: 3s
  fenceMargin: 1s
serviceSets:
  WEB:
    prefer: [h1, h2, h3]
    resources:
      - id: web-data
        type: dummy
      - id: web-ip
        type: floating-ip
        params: { ip: $NET.100/24, interface: eth0 }
        stop: { timeout: 2s }
YAML
run "cat operator/cluster.yaml"
run "hactl config validate operator/cluster.yaml"
run "hactl config apply operator/cluster.yaml"
wait_for "WEB running" 60 "hactl status --json | grep -q '\"state\": \"running\"'"
run "hactl status"
run "for h in h1 h2 h3; do ip -n hactl-wk-\$h -br addr show eth0 2>/dev/null | sed \"s/^/\$h: /\"; done"
run "arping -c1 -w2 -I $BR $NET.100 | grep -E 'reply|Received'"

say "10. A planned switchover, as the operator; the observer may look but not act"
run "hactl failover WEB --to h2 --wait"
run "hactl --cert pki/observer.pem --key pki/observer-key.pem status | head -6"
run_fails 4 "hactl --cert pki/observer.pem --key pki/observer-key.pem failover WEB --to h3"

say "11. Host h2 dies (its agent and its etcd member killed): the set needs a fence or a confirmation"
run "date -u +%T.%3N && kill -KILL \$(cat h2/.pid-agent) \$(cat h2/.pid-etcd) && ip netns del hactl-wk-h2"
wait_for "h2 offline" 30 "hactl status --json | grep -A1 '\"name\": \"h2\"' | grep -q offline"
sleep 2
run "hactl status"
run "hactl fence h2 --confirm-down && date -u +%T.%3N"
wait_for "WEB running on h1 or h3" 30 "hactl status --json | grep -B2 -A4 '\"name\": \"WEB\"' | grep -q '\"state\": \"running\"'"
run "date -u +%T.%3N && hactl status"
run "for h in h1 h2 h3; do ip -n hactl-wk-\$h -br addr show eth0 2>/dev/null | sed \"s/^/\$h: /\"; done"
run "arping -c1 -w2 -I $BR $NET.100 | grep -E 'reply|Received'"
run "hactl events --set WEB | tail -8"
run "hactl report"

say "12. Clean up (the script's trap: agents, etcd, namespaces, bridge, files)"
echo "transcript: $OUT"
