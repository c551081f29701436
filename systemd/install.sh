#!/bin/bash
# Installs a built hactl tree as a system service (docs/install.md):
#   /usr/lib/hactl/          dist/agent, dist/cli, resources/, docs/, package.json and the
#                            production node_modules (no dev dependencies)
#   /usr/bin/hactl           a wrapper: node /usr/lib/hactl/dist/cli/hactl.js "$@"
#   /etc/systemd/system/hactl-agent.service
#   /usr/share/bash-completion/completions/hactl
#   /etc/hactl/ (0750), /etc/hactl/resources.d/, /etc/hactl/agent.yaml.example, /var/lib/hactl/ (0750)
# Never touches /etc/hactl/agent.yaml or anything else an operator wrote. Idempotent: running it
# again replaces the program files (atomically per directory: a new tree is moved into place) and
# leaves configuration alone. It neither enables nor starts the agent unless --enable is given.
#
# Usage: systemd/install.sh [--root DIR] [--src DIR] [--enable]
#   --root DIR   install into a root file system (a container image, a debootstrap'd tree)
#   --src DIR    the built hactl checkout (default: this script's repository; run `npm run build`)
#   --enable     `systemctl enable hactl-agent` (with --root: offline, symlinks only)
set -euo pipefail

root=/
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
enable=0
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --src) src=${2:?--src needs a directory}; shift 2 ;;
    --enable) enable=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
root=${root%/}
[ -d "${root:-/}" ] || { echo "install.sh: --root $root: not a directory" >&2; exit 2; }
[ -f "$src/dist/cli/hactl.js" ] || { echo "install.sh: $src/dist/cli/hactl.js missing: build first (npx tsc -p tsconfig.json)" >&2; exit 1; }
[ -d "$src/node_modules" ] || { echo "install.sh: $src/node_modules missing: run npm ci first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 4; }

lib=$root/usr/lib/hactl
new=$lib.new.$$
trap 'rm -rf "$new" "$lib.old.$$"' EXIT
rm -rf "$new"
mkdir -p "$new/dist" "$new/node_modules"
cp -a "$src/dist/agent" "$src/dist/cli" "$new/dist/"
cp -a "$src/resources" "$new/"
mkdir -p "$new/docs" && cp -a "$src"/docs/*.md "$new/docs/"
cp -a "$src/package.json" "$new/"
[ -f "$src/package-lock.json" ] && cp -a "$src/package-lock.json" "$new/"
# Production dependencies only: npm lists their directories (offline, from node_modules).
deps=$(cd "$src" && npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2) || true
[ -n "$deps" ] || { echo "install.sh: npm ls found no production dependencies in $src/node_modules" >&2; exit 1; }
while IFS= read -r d; do
  rel=${d#"$src"/}
  case $rel in node_modules/*) ;; *) continue ;; esac
  [ -e "$new/$rel" ] && continue          # already copied with its parent
  mkdir -p "$new/$(dirname "$rel")"
  cp -a "$d" "$new/$rel"
done <<< "$deps"
# resource agents are executed as root: not writable by others (SPEC §5.6)
chmod -R go-w "$new"
chown -R 0:0 "$new"
# Swap the tree in: two renames; the old tree is removed afterwards.
if [ -d "$lib" ]; then mv "$lib" "$lib.old.$$"; fi
mv "$new" "$lib"
rm -rf "$lib.old.$$"

install -d -m 755 "$root/usr/bin"
cat > "$root/usr/bin/hactl.tmp.$$" <<'WRAP'
#!/bin/sh
# hactl: the operator CLI (installed by hactl's systemd/install.sh)
exec /usr/bin/node /usr/lib/hactl/dist/cli/hactl.js "$@"
WRAP
chmod 755 "$root/usr/bin/hactl.tmp.$$"
mv "$root/usr/bin/hactl.tmp.$$" "$root/usr/bin/hactl"

install -d -m 755 "$root/etc/systemd/system"
install -m 644 "$src/systemd/hactl-agent.service" "$root/etc/systemd/system/hactl-agent.service"
if [ -f "$src/cli/completion/hactl.bash" ]; then
  install -d -m 755 "$root/usr/share/bash-completion/completions"
  install -m 644 "$src/cli/completion/hactl.bash" "$root/usr/share/bash-completion/completions/hactl"
fi

install -d -m 750 "$root/etc/hactl" "$root/var/lib/hactl"
install -d -m 755 "$root/etc/hactl/resources.d"
cat > "$root/etc/hactl/agent.yaml.example" <<'YAML'
# /etc/hactl/agent.yaml -- this host's agent (docs/configuration.md). Copy to agent.yaml and edit.
node: mq1                                  # this host's name in the cluster (default: hostname)
cluster: mq-prod                           # etcd key prefix /hactl/<cluster>/
etcd:
  endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379, https://10.0.0.7:2379]
  tls: { ca: /etc/hactl/pki/ca.pem, cert: /etc/hactl/pki/mq1.pem, key: /etc/hactl/pki/mq1-key.pem }
dataDir: /var/lib/hactl
http: { listen: 127.0.0.1:7946 }
log: { level: info }
YAML
chmod 640 "$root/etc/hactl/agent.yaml.example"

[ -x "$root/usr/bin/node" ] || echo "install.sh: note: $root/usr/bin/node is missing; the unit runs /usr/bin/node (Node.js >= 20)" >&2

if [ "$root" = "" ]; then
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
  if [ $enable = 1 ]; then systemctl enable hactl-agent.service; fi
elif [ $enable = 1 ]; then
  systemctl --root="$root" enable hactl-agent.service
fi
echo "hactl installed into ${root:-/} (program: /usr/lib/hactl, unit: hactl-agent.service)"
[ -f "$root/etc/hactl/agent.yaml" ] || echo "next: write /etc/hactl/agent.yaml (see /etc/hactl/agent.yaml.example), then: systemctl enable --now hactl-agent"
