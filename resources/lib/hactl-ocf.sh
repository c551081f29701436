# shellcheck shell=bash
# hactl-ocf.sh: the shared library of hactl's built-in resource agents (bash).
#
# Sourced by every agent in resources/. It gives:
#   - the OCF exit codes (OCF_SUCCESS ... OCF_NOT_RUNNING) and ocf_exit_reason / ocf_log;
#   - hactl_init: the per-action context (instance name, HA_RSCTMP, action deadline);
#   - duration parsing (500ms, 10s, 2m, bare number = seconds) into milliseconds;
#   - validators for parameters (absolute safe paths, names, booleans, ports, IP CIDRs) that
#     print one clear ocf-exit-reason and return the OCF code to exit with;
#   - process helpers keyed by pid + start time, so a reused pid is never mistaken for ours;
#   - JSON (arrays / objects of strings) to NUL-separated lists, with node as the only parser.
#
# Security (SPEC 5.6): parameter values are only ever used as single words ("$var"), argv
# elements or file contents. Nothing here evals them or hands them to a shell.
# Independent of Debian's ocf-shellfuncs on purpose: hactl works without resource-agents.

# ---- OCF exit codes -------------------------------------------------------------------------
OCF_SUCCESS=0
OCF_ERR_GENERIC=1
OCF_ERR_ARGS=2
OCF_ERR_UNIMPLEMENTED=3
OCF_ERR_PERM=4
OCF_ERR_INSTALLED=5
OCF_ERR_CONFIGURED=6
OCF_NOT_RUNNING=7

# ---- reasons and logging ----------------------------------------------------------------------

# ocf_exit_reason TEXT...: the one-line human reason hactl shows in status (stderr).
ocf_exit_reason() {
  local prefix=${OCF_EXIT_REASON_PREFIX:-ocf-exit-reason:}
  local text="$*"
  text=${text//$'\n'/ }
  printf '%s%s\n' "$prefix" "$text" >&2
}

# ocf_log LEVEL TEXT...: a log line on stderr (the runner captures it), e.g.
#   hactl-ra floating-ip[vip1] info: added 10.0.0.50/24 on eth0
ocf_log() {
  local level=$1
  shift
  printf 'hactl-ra %s[%s] %s: %s\n' "${HACTL_RA_NAME:-agent}" "${OCF_RESOURCE_INSTANCE:-?}" "$level" "$*" >&2
}

# hactl_fail RC TEXT...: print the reason and exit with RC (used by validation in actions).
hactl_fail() {
  local rc=$1
  shift
  ocf_exit_reason "$*"
  exit "$rc"
}

# ---- time ---------------------------------------------------------------------------------------

# hactl_now_ms: wall-clock milliseconds, without forking.
hactl_now_ms() {
  local t=${EPOCHREALTIME/./}
  printf '%s' "${t:0:${#t}-3}"
}

# hactl_duration_ms VALUE: print VALUE (500ms, 10s, 2m, 1h, 1.5s, or a bare number of seconds)
# as whole milliseconds; return 1 when it is not a duration.
hactl_duration_ms() {
  local v=$1 num unit int frac mult
  [[ $v =~ ^([0-9]+(\.[0-9]{1,3})?)(ms|s|m|h)?$ ]] || return 1
  num=${BASH_REMATCH[1]}
  unit=${BASH_REMATCH[3]:-s}
  int=${num%%.*}
  frac=
  [[ $num == *.* ]] && frac=${num#*.}
  [[ ${#int} -le 9 ]] || return 1
  frac=${frac}000
  frac=${frac:0:3}
  case $unit in
    ms) [[ $frac == 000 ]] || return 1; printf '%d' "$((10#$int))" ;;
    s) mult=1 ;;
    m) mult=60 ;;
    h) mult=3600 ;;
  esac
  [[ $unit == ms ]] && return 0
  printf '%d' "$(((10#$int * 1000 + 10#$frac) * mult))"
}

# hactl_sleep_ms MS: sleep for MS milliseconds (no-op for 0).
hactl_sleep_ms() {
  local ms=$1
  ((ms > 0)) || return 0
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

# hactl_remaining_ms: milliseconds left before this action's deadline (never below 0).
# The deadline is OCF_RESKEY_CRM_meta_timeout (or the action's default) minus a margin, so the
# agent gives up and explains itself before the runner kills it.
hactl_remaining_ms() {
  local left=$((HACTL_DEADLINE_MS - $(hactl_now_ms)))
  ((left < 0)) && left=0
  printf '%d' "$left"
}

# ---- context ------------------------------------------------------------------------------------

# hactl_init AGENT_NAME ACTION DEFAULT_TIMEOUT_MS: set HACTL_RA_NAME, HACTL_ACTION, RSCTMP
# (HA_RSCTMP, default /run/hactl), INSTANCE and HACTL_DEADLINE_MS.
hactl_init() {
  HACTL_RA_NAME=$1
  HACTL_ACTION=$2
  local default_timeout=$3 timeout margin
  RSCTMP=${HA_RSCTMP:-/run/hactl}
  INSTANCE=${OCF_RESOURCE_INSTANCE:-}
  timeout=${OCF_RESKEY_CRM_meta_timeout:-}
  [[ $timeout =~ ^[0-9]{1,9}$ ]] || timeout=$default_timeout
  timeout=$((10#$timeout))
  margin=$((timeout / 10))
  ((margin > 2000)) && margin=2000
  HACTL_TIMEOUT_MS=$timeout
  HACTL_DEADLINE_MS=$(($(hactl_now_ms) + timeout - margin))
}

# hactl_require_instance: the instance name names our state files, so it must be a safe name.
hactl_require_instance() {
  if [[ -z $INSTANCE ]]; then
    ocf_exit_reason "OCF_RESOURCE_INSTANCE is not set"
    return $OCF_ERR_CONFIGURED
  fi
  if ! [[ $INSTANCE =~ ^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$ ]]; then
    ocf_exit_reason "resource id '$INSTANCE' is not a safe name ([A-Za-z0-9_] then [A-Za-z0-9_.:-], at most 128)"
    return $OCF_ERR_CONFIGURED
  fi
  return 0
}

# hactl_ensure_rsctmp: create RSCTMP (mode 0700) when missing; it holds pidfiles and state.
hactl_ensure_rsctmp() {
  if [[ ! -d $RSCTMP ]]; then
    if ! mkdir -p -m 0700 -- "$RSCTMP" 2>/dev/null; then
      ocf_exit_reason "cannot create state directory $RSCTMP"
      return $OCF_ERR_PERM
    fi
  fi
  return 0
}

# hactl_is_probe: true for a probe (monitor with interval 0 or unset).
hactl_is_probe() {
  [[ ${OCF_RESKEY_CRM_meta_interval:-0} == 0 ]]
}

# ---- validators: each prints the reason and returns the OCF code (0 when fine) ----------------

# Characters allowed in paths and names taken from parameters: no shell metacharacters, no
# whitespace, no quotes, no globbing.
HACTL_SAFE_PATH_RE='^/[A-Za-z0-9._/+,:@%=-]*$'

# hactl_check_abs_path PARAM VALUE: VALUE is an absolute path without shell metacharacters.
hactl_check_abs_path() {
  local name=$1 value=$2
  if [[ $value != /* ]]; then
    ocf_exit_reason "$name '$value' is not an absolute path"
    return $OCF_ERR_CONFIGURED
  fi
  if ! [[ $value =~ $HACTL_SAFE_PATH_RE ]]; then
    ocf_exit_reason "$name '$value' contains characters that are not allowed (shell metacharacters or spaces)"
    return $OCF_ERR_CONFIGURED
  fi
  if [[ /$value/ == */../* ]]; then
    ocf_exit_reason "$name '$value' contains a '..' component"
    return $OCF_ERR_CONFIGURED
  fi
  return 0
}

# hactl_check_executable PARAM VALUE: a safe absolute path to an executable file on this host.
hactl_check_executable() {
  local name=$1 value=$2 rc
  hactl_check_abs_path "$name" "$value" || { rc=$?; return $rc; }
  if [[ ! -f $value || ! -x $value ]]; then
    ocf_exit_reason "$name $value is not an executable file on this host"
    return $OCF_ERR_INSTALLED
  fi
  return 0
}

# hactl_check_name PARAM VALUE: VALUE matches [A-Za-z0-9_]+ (SPEC 5.6), optionally with extra
# characters given as a bracket-expression tail in $3 (e.g. '.-').
hactl_check_name() {
  local name=$1 value=$2 extra=${3:-} re
  re="^[A-Za-z0-9_${extra}]+\$"
  if [[ -z $value || ! $value =~ $re || ${#value} -gt 128 ]]; then
    ocf_exit_reason "$name '$value' is not a valid name (allowed: letters, digits, _${extra:+ and $extra})"
    return $OCF_ERR_CONFIGURED
  fi
  return 0
}

# hactl_check_bool PARAM VALUE: true or false.
hactl_check_bool() {
  case $2 in
    true | false) return 0 ;;
  esac
  ocf_exit_reason "$1 '$2' must be true or false"
  return $OCF_ERR_CONFIGURED
}

# hactl_check_duration PARAM VALUE: a duration (500ms, 10s, 2m, bare number = seconds).
hactl_check_duration() {
  if ! hactl_duration_ms "$2" >/dev/null; then
    ocf_exit_reason "$1 '$2' is not a duration (e.g. 500ms, 10s, 2m)"
    return $OCF_ERR_CONFIGURED
  fi
  return 0
}

# hactl_check_uint PARAM VALUE MIN MAX: a decimal integer in [MIN, MAX].
hactl_check_uint() {
  local name=$1 value=$2 min=$3 max=$4
  if ! [[ $value =~ ^[0-9]{1,9}$ ]] || ((10#$value < min || 10#$value > max)); then
    ocf_exit_reason "$name '$value' must be an integer from $min to $max"
    return $OCF_ERR_CONFIGURED
  fi
  return 0
}

# hactl_is_ipv4 ADDR: dotted quad, each octet 0..255.
hactl_is_ipv4() {
  local a=$1 o
  [[ $a =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  for o in "${BASH_REMATCH[@]:1}"; do
    ((10#$o <= 255)) || return 1
  done
  return 0
}

# hactl_is_ipv6 ADDR: an IPv6 address in text form (hex groups, at most one '::', optional
# trailing dotted quad).
hactl_is_ipv6() {
  local a=$1 groups=0 part rest max=8
  [[ $a =~ ^[0-9A-Fa-f:.]+$ && $a == *:* && ${#a} -le 45 ]] || return 1
  if [[ $a =~ ^(.*:)([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$ ]]; then
    hactl_is_ipv4 "${BASH_REMATCH[2]}" || return 1
    a=${BASH_REMATCH[1]}
    [[ $a == *:: ]] || a=${a%:}
    max=6
  fi
  [[ $a == *:::* ]] && return 1
  rest=${a//::/}
  if ((${#a} - ${#rest} > 2)); then return 1; fi # more than one '::'
  if [[ $a == *::* ]]; then
    [[ $a == :* && $a != ::* ]] && return 1
    [[ $a == *: && $a != *:: ]] && return 1
  else
    [[ $a == :* || $a == *: ]] && return 1
  fi
  local IFS=:
  for part in $a; do
    [[ -z $part ]] && continue
    [[ $part =~ ^[0-9A-Fa-f]{1,4}$ ]] || return 1
    groups=$((groups + 1))
  done
  if [[ $a == *::* ]]; then
    ((groups < max)) || return 1
  else
    ((groups == max)) || return 1
  fi
  return 0
}

# hactl_check_ip_literal PARAM VALUE: an IPv4 or IPv6 address (no prefix).
hactl_check_ip_literal() {
  if hactl_is_ipv4 "$2" || hactl_is_ipv6 "$2"; then return 0; fi
  ocf_exit_reason "$1 '$2' is not an IPv4/IPv6 address"
  return $OCF_ERR_CONFIGURED
}

# hactl_have CMD...: every command is installed; otherwise the reason and OCF_ERR_INSTALLED.
hactl_have() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null 2>&1; then
      ocf_exit_reason "required command '$c' is not installed on this host"
      return $OCF_ERR_INSTALLED
    fi
  done
  return 0
}

# ---- processes ----------------------------------------------------------------------------------

# hactl_proc_stat PID: set PROC_STATE, PROC_PGRP and PROC_START (field 22, clock ticks since
# boot) from /proc/PID/stat; return 1 when there is no such process.
hactl_proc_stat() {
  local pid=$1 line rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  { IFS= read -r line <"/proc/$pid/stat"; } 2>/dev/null || return 1
  rest=${line##*) } # after the command name, which may itself contain ') '
  local -a f
  read -r -a f <<<"$rest"
  PROC_STATE=${f[0]}
  PROC_PGRP=${f[2]}
  PROC_START=${f[19]}
  return 0
}

# hactl_proc_alive PID START: the process PID exists, is not a zombie, and started at START
# (so a pid reused by an unrelated process does not count).
hactl_proc_alive() {
  hactl_proc_stat "$1" || return 1
  [[ $PROC_STATE != Z && $PROC_STATE != X && $PROC_START == "$2" ]]
}

# hactl_pgrp_members PGID: print the live (non-zombie) pids whose process group is PGID.
hactl_pgrp_members() {
  local pgid=$1 d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    hactl_proc_stat "$pid" || continue
    [[ $PROC_PGRP == "$pgid" && $PROC_STATE != Z && $PROC_STATE != X ]] && printf '%s\n' "$pid"
  done
  return 0
}

# hactl_read_pidfile FILE: set PF_PID and PF_START from "PID START"; return 1 when absent/bad.
hactl_read_pidfile() {
  local line
  PF_PID= PF_START=
  { IFS= read -r line <"$1"; } 2>/dev/null || return 1
  [[ $line =~ ^([0-9]+)\ ([0-9]+)$ ]] || return 1
  PF_PID=${BASH_REMATCH[1]}
  PF_START=${BASH_REMATCH[2]}
  return 0
}

# hactl_write_file FILE CONTENT: atomically replace FILE (write a temp file, then rename).
hactl_write_file() {
  local f=$1 tmp="$1.tmp.$$"
  printf '%s\n' "$2" >"$tmp" && mv -f -- "$tmp" "$f"
}

# hactl_tcp_probe HOST PORT TIMEOUT_MS: true when a TCP connection to HOST:PORT is accepted
# within TIMEOUT_MS (bash /dev/tcp in a subshell; no shell parsing of HOST or PORT).
hactl_tcp_probe() {
  local host=$1 port=$2 limit=$3 p rc end
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null &
  p=$!
  end=$(($(hactl_now_ms) + limit))
  while kill -0 "$p" 2>/dev/null; do
    if (($(hactl_now_ms) >= end)); then
      kill -KILL "$p" 2>/dev/null
      wait "$p" 2>/dev/null
      return 1
    fi
    sleep 0.02
  done
  wait "$p"
  rc=$?
  return $rc
}

# ---- daemons: a long-lived command in its own session, tracked by a "PID STARTTIME" pidfile ----

# hactl_daemon_state PIDFILE: set DAEMON_STATE to running | stopped (no pidfile) | dead (pidfile,
# but that process is gone or the pid now belongs to another process), and PF_PID / PF_START.
hactl_daemon_state() {
  if ! hactl_read_pidfile "$1"; then
    DAEMON_STATE=stopped
  elif hactl_proc_alive "$PF_PID" "$PF_START"; then
    DAEMON_STATE=running
  else
    DAEMON_STATE=dead
  fi
}

# hactl_daemon_launch PIDFILE LOGFILE CWD USER COMMAND [ARG...]: start COMMAND in a new session
# (its pid is its process group id), stdin from /dev/null, stdout/stderr appended to LOGFILE,
# running as USER when not empty, with the extra environment from the array DAEMON_ENV
# (KEY VALUE ...) and without any OCF_RESKEY_* variable. Writes PIDFILE; sets PF_PID/PF_START.
# Returns 1 (with DAEMON_RC) when the command exited at once.
hactl_daemon_launch() {
  local pidfile=$1 logfile=$2 cwd=$3 user=$4 i v
  shift 4
  (
    for v in "${!OCF_RESKEY_@}"; do unset "$v"; done
    for ((i = 0; i + 1 < ${#DAEMON_ENV[@]}; i += 2)); do export "${DAEMON_ENV[i]}=${DAEMON_ENV[i + 1]}"; done
    cd -- "$cwd" || exit 126
    exec </dev/null >>"$logfile" 2>&1
    # A background job of a non-interactive shell is not a process group leader, so setsid
    # does not fork: this subshell's pid becomes the command's pid and process group id.
    if [[ -n $user ]]; then
      exec setsid setpriv --reuid="$user" --regid="$(id -g -- "$user")" --init-groups -- "$@"
    fi
    exec setsid -- "$@"
  ) &
  local child=$!
  if ! hactl_proc_stat "$child"; then
    wait "$child"
    DAEMON_RC=$?
    return 1
  fi
  PF_PID=$child
  PF_START=$PROC_START
  if ! hactl_write_file "$pidfile" "$PF_PID $PF_START"; then
    kill -KILL -- "-$PF_PID" "$PF_PID" 2>/dev/null
    DAEMON_RC=pidfile
    return 1
  fi
  return 0
}

# hactl_daemon_reap: after the daemon died while we are still its parent, its exit status.
hactl_daemon_reap() {
  wait "$PF_PID" 2>/dev/null
}

# hactl_daemon_wait_gone MS: wait up to MS for PF_PID and every member of its process group to
# exit (zombies count as gone).
hactl_daemon_wait_gone() {
  local until=$(($(hactl_now_ms) + $1))
  while :; do
    if ! hactl_proc_alive "$PF_PID" "$PF_START" && [[ -z $(hactl_pgrp_members "$PF_PID") ]]; then
      return 0
    fi
    (($(hactl_now_ms) >= until)) && return 1
    sleep 0.05
  done
}

# hactl_daemon_stop PIDFILE SIGNAL GRACE_MS: SIGNAL to the daemon's process group, wait up to
# GRACE_MS (capped at two thirds of what is left of the action), then SIGKILL the group. Removes
# PIDFILE when everything is gone; returns 1 with a reason if something survived SIGKILL.
hactl_daemon_stop() {
  local pidfile=$1 sig=$2 grace=$3 left
  hactl_daemon_state "$pidfile"
  case $DAEMON_STATE in
    stopped) return 0 ;;
    dead)
      # The leader is gone; members of its group may not be. The kernel does not reuse a pid
      # while a process group of that id exists, so: if the pid now belongs to another process
      # (other start time), our group is empty and must not be touched; if the pid is free (or
      # is our zombie), whoever is left in group PF_PID is ours.
      if ! hactl_proc_stat "$PF_PID" || [[ $PROC_START == "$PF_START" ]]; then
        [[ -n $(hactl_pgrp_members "$PF_PID") ]] && kill -KILL -- "-$PF_PID" 2>/dev/null
      fi
      rm -f -- "$pidfile"
      return 0
      ;;
  esac
  left=$(hactl_remaining_ms)
  ((grace > left * 2 / 3)) && grace=$((left * 2 / 3))
  ocf_log info "stopping pid $PF_PID with SIG$sig (grace ${grace}ms)"
  kill "-$sig" -- "-$PF_PID" 2>/dev/null || kill "-$sig" -- "$PF_PID" 2>/dev/null
  if ! hactl_daemon_wait_gone "$grace"; then
    ocf_log warning "pid $PF_PID still running after ${grace}ms: SIGKILL to its process group"
    kill -KILL -- "-$PF_PID" 2>/dev/null
    hactl_proc_alive "$PF_PID" "$PF_START" && kill -KILL -- "$PF_PID" 2>/dev/null
    left=$(hactl_remaining_ms)
    ((left < 1000)) && left=1000
    if ! hactl_daemon_wait_gone "$left"; then
      ocf_exit_reason "process $PF_PID did not exit after SIGKILL"
      return 1
    fi
  fi
  rm -f -- "$pidfile"
  return 0
}

# ---- JSON (node is always present where hactl runs; it is used only to parse JSON) ------------

hactl_node() {
  if command -v node >/dev/null 2>&1; then
    node "$@"
  elif [[ -x /usr/bin/node ]]; then
    /usr/bin/node "$@"
  else
    echo "node is not installed" >&2
    return 127
  fi
}

# hactl_json_list MODE PARAM JSON: parse JSON into the array HACTL_JSON_OUT.
#   MODE array:  a JSON array of scalars -> its elements as strings;
#   MODE object: a JSON object of scalars, keys being environment variable names -> KEY VALUE ...
# On error print the reason and return OCF_ERR_CONFIGURED. Empty JSON text = empty list.
# node writes one status record ("ok" or the error text) then the items, NUL-separated.
hactl_json_list() {
  local mode=$1 name=$2 json=$3
  HACTL_JSON_OUT=()
  [[ -z $json ]] && return 0
  local -a recs=()
  # shellcheck disable=SC2016  # the script is fixed; the JSON comes in through the environment
  mapfile -d '' recs < <(HACTL_JSON=$json HACTL_PARAM=$name HACTL_MODE=$mode hactl_node -e '
    const p = process.env.HACTL_PARAM;
    const mode = process.env.HACTL_MODE;
    const fail = (m) => { process.stdout.write(m + "\0"); process.exit(0); };
    let v;
    try { v = JSON.parse(process.env.HACTL_JSON); } catch (e) { fail(`${p} is not valid JSON: ${e.message}`); }
    const out = ["ok"];
    const str = (x, where) => {
      if (!["string", "number", "boolean"].includes(typeof x)) fail(`${where} must be a string`);
      const s = String(x);
      if (s.includes("\0")) fail(`${where} contains a NUL byte`);
      return s;
    };
    if (mode === "array") {
      if (!Array.isArray(v)) fail(`${p} must be a JSON array of strings`);
      v.forEach((x, i) => out.push(str(x, `${p}[${i}]`)));
    } else {
      if (v === null || typeof v !== "object" || Array.isArray(v)) fail(`${p} must be a JSON object of strings`);
      for (const [k, x] of Object.entries(v)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) fail(`${p}: '${k}' is not a valid environment variable name`);
        out.push(k, str(x, `${p}.${k}`));
      }
    }
    process.stdout.write(out.map((s) => s + "\0").join(""));
  ' 2>/dev/null)
  if [[ ${recs[0]:-} != ok ]]; then
    ocf_exit_reason "${recs[0]:-$name: cannot parse JSON (is node installed?)}"
    return $OCF_ERR_CONFIGURED
  fi
  HACTL_JSON_OUT=("${recs[@]:1}")
  return 0
}

# ---- dispatch -----------------------------------------------------------------------------------

# hactl_usage AGENT: the usage line (stdout).
hactl_usage() {
  printf 'usage: %s {start|stop|monitor|validate-all|meta-data|usage}\n' "$1"
  printf 'Parameters come from OCF_RESKEY_<name> environment variables; see "%s meta-data".\n' "$1"
}
