#!/usr/bin/env bash
# Failures across simulated hosts (Cluster/sim-hosts.sh), ResNet-20 FP32, 1 rank per host,
# a checkpoint every 5 steps:
#  1. lost host: every process of host 3 killed mid-epoch (3 hosts): the job and every
#     rank on the other hosts end within 30 s, run-hosts.sh names the lost host and its
#     rank, the newest checkpoint verifies (gdqr inspect);
#  2. relaunch on the survivors (hosts 1 and 2, world size 3 -> 2) with --resume auto
#     finishes, with parameters bit-identical to the same checkpoint continued by 2 ranks
#     on one host (same world size, same reductions: the transport changes no sum);
#  3. link cut: host 3's interface set down mid-epoch: the job and the other hosts' ranks
#     end within 30 s (OOB keepalive), and host 3's own rank ends too;
#  4. preemption, SIGTERM to every rank (what srun / slurmstepd send): the ranks finish the
#     step, rank 0 writes its checkpoint, all exit with status 75 within 10 s, and
#     --resume auto ends bit-identical to an uninterrupted run at the same world size;
#  5. preemption, SIGUSR1 to mpirun (forwarded to the ranks): the same.
# Skips with one line where namespaces cannot be made.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/multihost.sh"
need_built "$train" "$gdqr"
sim_setup fail 10.213.79
sim_up 3 --rate 1gbit

args=(--config "$root/configs/fashion-mnist-resnet20-fp32.yaml" --quiet
      --set train.epochs=1 --set data.test_limit=256 --set train.batch_size=48 --set data.train_limit=1200
      --set train.threads=1 --set checkpoint.every_steps=5)

# latest_step OUT: the step of OUT's newest checkpoint (0 if none).
latest_step() {
    local l
    l=$( (cat "$1/checkpoints/latest" 2> /dev/null || true) | sed -E 's/step-0*([0-9]+).*/\1/')
    echo "${l:-0}"
}
# wait_step OUT K: until OUT has a checkpoint at step >= K (at most 120 s).
wait_step() {
    for _ in $(seq 1 1200); do
        [ "$(latest_step "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# start_job OUT RUN-HOSTS-ARGS...: runs gdqr-train on the hosts in the background (job=pid).
start_job() {
    local out=$1; shift
    GDQR_RUN_HOSTS_LOG=$out.mpirun.log on_hosts "$@" "$train" "${args[@]}" --out "$out" > "$out.log" 2>&1 &
    job=$!
}
# survivors_gone I...: every gdqr-train on hosts I... has exited (at most 30 s more).
survivors_gone() {
    local left i
    for _ in $(seq 1 300); do
        left=""
        for i in "$@"; do left="$left$(host_ranks "$i")"; done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    return 1
}

echo "-- 1. a host dies mid-epoch (all its processes killed)"
start_job "$tmp/lost" --per-host 1
wait_step "$tmp/lost" 10 || fail "no checkpoint at step 10: $(tail -3 "$tmp/lost.log")"
sim kill 3 2> /dev/null
took=$(wait_gone "$job" 30)
code=0; wait "$job" || code=$?
if [ "$took" = timeout ]; then
    fail "job still running 30 s after host 3 died"
elif ! survivors_gone 1 2; then
    fail "ranks left on hosts 1-2 after the job ended"
else
    echo "   job ended after $took s with status $code; no rank left on hosts 1-2"
fi
[ "$code" != 0 ] || fail "job with a lost host exited 0"
if grep -q "lost host $GDQR_SIM_PREFIX-h3 (10.213.79.13), ranks 2-2" "$tmp/lost.log"; then
    echo "   $(grep -m1 'lost host' "$tmp/lost.log")"
else
    fail "no message naming host 3 and rank 2: $(tail -3 "$tmp/lost.log")"
fi
newest="$tmp/lost/checkpoints/$(cat "$tmp/lost/checkpoints/latest")"
# The output is captured first: `inspect | grep -q` under pipefail fails whenever grep
# exits before inspect has written everything (SIGPIPE).
if inspected=$("$gdqr" inspect "$newest" 2>&1) && grep -q "checksums OK" <<< "$inspected"; then
    echo "   last checkpoint intact: $(basename "$newest") (checksums OK)"
else
    fail "last checkpoint $newest does not verify"
fi

echo "-- 2. relaunched on the 2 surviving hosts with --resume auto"
cp -r "$tmp/lost" "$tmp/lost-local"
at=$(latest_step "$tmp/lost")
if on_hosts --hosts 1,2 --per-host 1 "$train" "${args[@]}" --out "$tmp/lost" --resume auto > "$tmp/resume.log" 2>&1; then
    "$run" 2 "$train" "${args[@]}" --out "$tmp/lost-local" --resume auto > "$tmp/resume-local.log" 2>&1 \
        || fail "local 2-rank resume: $(tail -3 "$tmp/resume-local.log")"
    compare_params 0 "$tmp/lost-local/model-fp32.safetensors" "$tmp/lost/model-fp32.safetensors" \
        "   resumed at step $at on 2 hosts (was 3) vs 2 ranks on one host" "resume on the survivors"
else
    fail "resume on the survivors: $(tail -3 "$tmp/resume.log")"
fi

echo "-- 3. a host's link cut mid-epoch"
start_job "$tmp/cut" --per-host 1
wait_step "$tmp/cut" 10 || fail "no checkpoint at step 10: $(tail -3 "$tmp/cut.log")"
sim link 3 down 2> /dev/null
took=$(wait_gone "$job" 30)
code=0; wait "$job" || code=$?
if [ "$took" = timeout ]; then
    fail "job still running 30 s after host 3's link was cut"
    kill -9 "$job" 2> /dev/null || true
elif ! survivors_gone 1 2; then
    fail "ranks left on hosts 1-2 after the job ended"
else
    echo "   job ended after $took s with status $code; no rank left on hosts 1-2"
fi
grep -q "lost host $GDQR_SIM_PREFIX-h3" "$tmp/cut.log" && echo "   $(grep -m1 'lost host' "$tmp/cut.log")" \
    || fail "no message naming host 3: $(tail -3 "$tmp/cut.log")"
if survivors_gone 3; then echo "   host 3's own rank ended too"; else fail "host 3's rank still runs"; fi
sim link 3 up 2> /dev/null

# preempt OUT HOW: a 2-host job stopped by HOW (term: SIGTERM to every rank; usr1: SIGUSR1
# to mpirun) between checkpoints; then resumed and compared with the uninterrupted run.
preempt() {
    local out=$1 how=$2 pids p
    start_job "$out" --hosts 1,2 --per-host 1
    wait_step "$out" 10 || fail "no checkpoint at step 10: $(tail -3 "$out.log")"
    sleep 0.7   # mid-way to the next checkpoint
    if [ "$how" = term ]; then
        pids=$(echo $(host_ranks 1) $(host_ranks 2))
        [ -n "$pids" ] || { fail "$how: no rank running to signal: $(tail -2 "$out.log")"; return; }
        kill -TERM $pids
    else
        for p in $(ip netns pids "$GDQR_SIM_PREFIX-h1"); do
            [ "$(cat "/proc/$p/comm" 2> /dev/null)" = mpirun ] && kill -USR1 "$p"
        done
    fi
    took=$(wait_gone "$job" 10)
    code=0; wait "$job" || code=$?
    local at
    at=$(latest_step "$out")
    if [ "$took" = timeout ]; then
        fail "$how: job still running 10 s after the signal"; kill -9 "$job" 2> /dev/null || true
    elif [ "$code" != 75 ]; then
        fail "$how: job exited $code, expected 75: $(tail -3 "$out.log")"
    elif ! grep -q "stopped after global step $at (.*), checkpoint checkpoints/step-0*$at.gdqrckpt written" "$out.log"; then
        fail "$how: rank 0 did not report the checkpoint of step $at: $(grep -m1 stopped "$out.log" || tail -2 "$out.log")"
    else
        echo "   all ranks exited with status 75 after $took s; $(grep -m1 -o 'stopped after.*written' "$out.log")"
    fi
    if on_hosts --hosts 1,2 --per-host 1 "$train" "${args[@]}" --out "$out" --resume auto > "$out.resume.log" 2>&1; then
        compare_params 0 "$tmp/ref/model-fp32.safetensors" "$out/model-fp32.safetensors" \
            "   stopped at step $at, resumed, vs uninterrupted" "$how: resume after preemption"
    else
        fail "$how: resume: $(tail -3 "$out.resume.log")"
    fi
}

# The preempted jobs run 100 steps, so that the signal lands mid-run however fast the
# CPU: on an AMD EPYC Zen 5 (family 26) the 25 steps above took about 1.5 s, and a job signalled
# 0.7 s after its step-10 checkpoint had already ended.
args+=(--set data.train_limit=4800)
echo "-- 4. preemption: SIGTERM to every rank (2 hosts)"
on_hosts --hosts 1,2 --per-host 1 "$train" "${args[@]}" --out "$tmp/ref" > "$tmp/ref.log" 2>&1 \
    || fail "uninterrupted 2-host run: $(tail -3 "$tmp/ref.log")"
preempt "$tmp/term" term
echo "-- 5. preemption: SIGUSR1 to mpirun"
preempt "$tmp/usr1" usr1
exit $status
