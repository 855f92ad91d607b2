#!/usr/bin/env bash
# Every scaling report, N = 1 ... this machine's cores, into one folder:
#
#   bash perf/scaling.sh [OUT] [--quick]        (OUT defaults to perf/results/<cores>cores)
#
# Reports: runtime (latency, arrays, threads, CPU scaling vs multiprocessing.Pool), envs
# (RemoteVectorEnv vs gymnasium's SyncVectorEnv, N actors x 64 envs), kernels (Numba kernels vs
# payload size and N threads) and cluster (the ZeroMQ backend on a loopback worker; needs pyzmq).
# Each runs under its own time limit (REPORT_TIMEOUT seconds, default 240), so that one report
# that hangs or fails leaves the others' results; PYTHON picks the interpreter (default python3).
set -u
OUT=${1:-perf/results/$(nproc)cores}
shift $(( $# > 0 ? 1 : 0 ))
QUICK=${1:-}
PY=${PYTHON:-python3}
N=$(nproc)
LIMIT=${REPORT_TIMEOUT:-240}
mkdir -p "$OUT"

run() {
    local name=$1
    shift
    echo "== $name: $PY -m $* --out $OUT $QUICK ($(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout --kill-after=10 "$LIMIT" "$PY" -m "$@" --out "$OUT" $QUICK 2>&1 | tail -n 60
    echo "== $name: exit ${PIPESTATUS[0]}"
}

if [ -n "$QUICK" ]; then ENVS_ARGS=(); else ENVS_ARGS=(--rounds 8 --min-quiet 0 --max-seconds 45); fi
run runtime perf.runtime --max-actors "$N"
run envs perf.envs --only random,policy --max-actors "$N" "${ENVS_ARGS[@]}"
run kernels perf.kernels --max-threads "$N"
if "$PY" -c "import zmq" 2>/dev/null; then
    run cluster perf.cluster --max-actors "$N"
else
    echo "== cluster: skipped (pyzmq is not installed)"
fi
