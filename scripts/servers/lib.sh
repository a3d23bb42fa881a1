# shellcheck shell=bash
# Helpers shared by llama-server.sh and vllm.sh: logging, step timing, an install lock, and
# starting / health-polling / stopping one server per port in its own process group.
# Sourced, not run. The caller sets NAME (log prefix) and DIR (its versioned cache folder).
#
# Conventions:
#   - every message goes to stderr; `start` prints only the base URL on stdout, so that
#     `URL=$(scripts/servers/llama-server.sh start)` works;
#   - every wait loop has a deadline;
#   - servers listen on 127.0.0.1 only, and health checks go to 127.0.0.1 only.

LLMSPEC_CACHE=${LLMSPEC_CACHE:-$HOME/.cache/llmspec}

log() { printf '[%s] %s\n' "$NAME" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$NAME" "$*" >&2
  exit 1
}

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed (needed by $0)"
  done
}

# Wall-clock seconds with a fraction, and a difference of two such stamps as "12.3".
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# Install steps. `step_begin LABEL` ... `step_end` logs and records the seconds of each step in
# $DIR/install-times.txt (appended, one line per step, with the date of the run).
# If the script dies inside a step, the EXIT trap names that step.
CURRENT_STEP=""
STEP_T0=""

step_begin() {
  CURRENT_STEP=$1
  STEP_T0=$(now)
  log "step: $CURRENT_STEP ..."
}

step_end() {
  local s
  s=$(elapsed "$STEP_T0" "$(now)")
  log "step: $CURRENT_STEP done in ${s} s"
  printf '%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$CURRENT_STEP" "$s" >>"$DIR/install-times.txt"
  CURRENT_STEP=""
}

on_install_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    if [[ -n $CURRENT_STEP ]]; then
      log "install FAILED (exit $rc) in step '$CURRENT_STEP' after $(elapsed "$STEP_T0" "$(now)") s"
    else
      log "install FAILED (exit $rc)"
    fi
    log "nothing was marked complete; run install again to redo the unfinished steps"
  fi
}

# Serialise installs of the same folder (two CI jobs, or a test and a person, at once).
# The lock file sits beside the folder, so removing the folder never removes a held lock.
take_install_lock() {
  mkdir -p "$(dirname "$DIR")"
  exec 9>"$DIR.lock"
  if ! flock -n 9; then
    log "another install of $DIR is running; waiting for it (at most 3600 s)"
    flock -w 3600 9 || die "timed out waiting for the install lock $DIR.lock"
  fi
}

# ---------------------------------------------------------------------------------------------
# Server processes.

check_port() {
  if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
    die "not a TCP port: '$1'"
  fi
}

pid_file() { echo "$DIR/run/$1.pid"; }
log_file() { echo "$DIR/run/$1.log"; }

# Is something already accepting TCP connections on 127.0.0.1:PORT?
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Is any non-zombie process left in process group $1?
group_alive() {
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# Start time of process $1 in clock ticks since boot (field 22 of /proc/PID/stat), which tells a
# process apart from a later one that reuses its pid.
proc_start() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo "${20}"
}

# Print the pid from the pid file of PORT if that server (its process group) is still alive and
# is the one we started; otherwise remove the stale pid file and fail.
live_pid() {
  local port=$1 f pid want have
  f=$(pid_file "$port")
  [[ -f $f ]] || return 1
  pid=$(head -c 32 "$f" | tr -dc 0-9)
  if [[ -n $pid ]] && group_alive "$pid"; then
    want=$(cat "$f.start" 2>/dev/null || true)
    if ! have=$(proc_start "$pid"); then
      # The leader is gone but members of its group remain: still ours to stop.
      echo "$pid"
      return 0
    fi
    if [[ -z $want || $want == "$have" ]]; then
      echo "$pid"
      return 0
    fi
  fi
  rm -f "$f" "$f.start"
  return 1
}

# HTTP status of GET 127.0.0.1:PORT/health ("000" when nothing answers).
health_code() {
  curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 3 "http://127.0.0.1:$1/health" || true
}

# stop_group PGID TIMEOUT: SIGTERM the whole group, wait, then SIGKILL what is left. Bounded.
stop_group() {
  local pgid=$1 timeout=$2 deadline
  kill -TERM -- "-$pgid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while group_alive "$pgid" && ((SECONDS < deadline)); do sleep 0.2; done
  if group_alive "$pgid"; then
    log "process group $pgid still alive ${timeout} s after SIGTERM; sending SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while group_alive "$pgid" && ((SECONDS < deadline)); do sleep 0.2; done
    group_alive "$pgid" && die "process group $pgid survived SIGKILL"
  fi
  return 0
}

# start_server PORT HEALTH_TIMEOUT STOP_TIMEOUT -- COMMAND...
# Starts COMMAND in a new session (so it and all its children form one process group whose id is
# the pid in the pid file), logs to $DIR/run/PORT.log, and waits until /health answers 200.
start_server() {
  local port=$1 health_timeout=$2 stop_timeout=$3
  shift 3
  [[ ${1:-} == -- ]] && shift
  local pidf logf pid child t0 deadline code last=""
  pidf=$(pid_file "$port")
  logf=$(log_file "$port")

  if pid=$(live_pid "$port"); then
    if [[ $(health_code "$port") == 200 ]]; then
      log "already running on 127.0.0.1:$port (pid $pid)"
      echo "http://127.0.0.1:$port"
      return 0
    fi
    die "a server of ours (pid $pid) holds port $port but is not healthy; run '$0 stop $port' first"
  fi
  if port_in_use "$port"; then
    die "127.0.0.1:$port is already in use by another program"
  fi

  mkdir -p "$DIR/run"
  rm -f "$pidf" "$pidf.start"
  log "starting: $*"
  log "log file: $logf"
  t0=$(now)
  # setsid: a new session and process group. The inner shell writes its own pid, which is also
  # the group id, then becomes the server with exec.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" >"$logf" 2>&1 </dev/null &
  child=$!

  deadline=$((SECONDS + 10))
  while [[ ! -s $pidf ]] && ((SECONDS < deadline)); do sleep 0.05; done
  [[ -s $pidf ]] || die "the server did not start (no pid file after 10 s); log: $logf"
  pid=$(tr -dc 0-9 <"$pidf")
  proc_start "$pid" >"$pidf.start" || true

  deadline=$((SECONDS + health_timeout))
  while :; do
    code=$(health_code "$port")
    [[ $code == 200 ]] && break
    if ! group_alive "$pid"; then
      wait "$child" 2>/dev/null || true
      rm -f "$pidf" "$pidf.start"
      log "the server exited before it was healthy; last 40 lines of $logf:"
      tail -n 40 "$logf" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "no 200 from http://127.0.0.1:$port/health after ${health_timeout} s (last status: $code); last 40 lines of $logf:"
      tail -n 40 "$logf" >&2 || true
      log "stopping it"
      stop_group "$pid" "$stop_timeout"
      wait "$child" 2>/dev/null || true
      rm -f "$pidf" "$pidf.start"
      exit 1
    fi
    if [[ $code != "$last" ]]; then
      log "waiting for /health (status $code)"
      last=$code
    fi
    sleep 0.5
  done
  log "healthy on 127.0.0.1:$port after $(elapsed "$t0" "$(now)") s (pid $pid)"
  echo "http://127.0.0.1:$port"
}

# stop_server PORT TIMEOUT: safe when nothing runs.
stop_server() {
  local port=$1 timeout=$2 pid t0 f
  f=$(pid_file "$port")
  if ! pid=$(live_pid "$port"); then
    log "nothing of ours is running on port $port"
    return 0
  fi
  t0=$(now)
  log "stopping pid $pid and its process group (port $port)"
  stop_group "$pid" "$timeout"
  rm -f "$f" "$f.start"
  log "stopped in $(elapsed "$t0" "$(now)") s"
}

# status_server PORT: prints the base URL and succeeds when our server runs there.
status_server() {
  local port=$1 pid
  if pid=$(live_pid "$port"); then
    log "running on 127.0.0.1:$port (pid $pid), GET /health -> $(health_code "$port")"
    echo "http://127.0.0.1:$port"
    return 0
  fi
  log "not running on port $port"
  return 1
}

# The last step of an install: only a complete install is trusted. Prints the total seconds.
mark_installed() {
  date -u +%Y-%m-%dT%H:%M:%SZ >"$DIR/.complete"
  local total
  total=$(elapsed "$INSTALL_T0" "$(now)")
  printf '%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "install total" "$total" >>"$DIR/install-times.txt"
  echo "$total"
}

require_installed() {
  installed || die "not installed in $DIR; run: $0 install"
}

parse_port() {
  PORT=$DEFAULT_PORT
  if [[ $# -gt 0 && $1 != -- ]]; then
    PORT=$1
  fi
  check_port "$PORT"
}

cmd_stop() {
  parse_port "$@"
  stop_server "$PORT" "$STOP_TIMEOUT"
}

cmd_status() {
  parse_port "$@"
  status_server "$PORT"
}

# The usage text is the calling script's header comment.
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit "${1:-0}"
}

# Every server script offers the same commands; each defines cmd_install, cmd_start, cmd_env.
dispatch() {
  case ${1:-} in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    env) shift; cmd_env "$@" ;;
    -h | --help | help) usage 0 ;;
    "") usage 2 ;;
    *) log "unknown command: $1"; usage 2 ;;
  esac
}
