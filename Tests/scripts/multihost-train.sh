#!/usr/bin/env bash
# Training across simulated hosts (Cluster/sim-hosts.sh: network namespaces, TCP between
# hosts over links shaped to 1 Gbit/s, shared memory within a host): 2 hosts x 2 ranks of
# ResNet-20 (SyncBN, global batch 64) end with the same parameters after 2 steps as
#   - 1 rank on one host, within the two-step tolerance of mpi-train.sh (1e-5 relative,
#     whole vector; measured 9.5e-7 on an AMD EPYC Zen 3, AVX2, 2 cores), and
#   - 4 ranks on one host (Cluster/run-local.sh), to the bit: the same ranks issue the
#     same reductions, and Open MPI picks the reduction algorithm by message size and
#     rank count, not by transport, so TCP between hosts changes no sum.
# Every rank must report its own host (the hosts have their own names).
# Skips with one line where namespaces cannot be made (not root, no CAP_NET_ADMIN).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/multihost.sh"
need_built "$train"
sim_setup train 10.213.78
sim_up 2 --rate 1gbit

args=(--config "$root/configs/fashion-mnist-resnet20-fp32.yaml" --quiet
      --set train.epochs=1 --set data.test_limit=256 --set train.batch_size=64 --set data.train_limit=128
      --set schedule.kind=constant --set schedule.warmup_epochs=0 --set optim.lr=0.01
      --set distributed.sync_bn=true --set train.threads=1)

"$train" "${args[@]}" --out "$tmp/one"
"$run" 4 "$train" "${args[@]}" --out "$tmp/local4"
start=$(date +%s)
on_hosts --per-host 2 "$train" "${args[@]}" --out "$tmp/hosts" 2> "$tmp/hosts.log" \
    || fail "2 hosts x 2 ranks: $(tail -3 "$tmp/hosts.log")"
echo "   2 hosts x 2 ranks, 2 steps + evaluation: $(( $(date +%s) - start )) s"

compare_params 1e-5 "$tmp/one/model-fp32.safetensors" "$tmp/hosts/model-fp32.safetensors" \
    "2 hosts x 2 ranks vs 1 rank" "2 hosts x 2 ranks vs 1 rank after 2 steps"
compare_params 0 "$tmp/local4/model-fp32.safetensors" "$tmp/hosts/model-fp32.safetensors" \
    "2 hosts x 2 ranks vs 4 ranks on one host" "2 hosts x 2 ranks vs 4 local ranks after 2 steps"

# The ranks ran where run-hosts.sh said: its layout lines name both hosts.
for i in 1 2; do
    grep -q "ranks $(( (i - 1) * 2 ))-$(( i * 2 - 1 )) on $GDQR_SIM_PREFIX-h$i" "$tmp/hosts.log" \
        || fail "run-hosts did not place ranks on host $i: $(head -3 "$tmp/hosts.log")"
done
"$py" -c "import json,sys; s=json.load(open('$tmp/hosts/summary.json')); print('   world_size', s['world_size']); sys.exit(0 if s['world_size']==4 else 1)" \
    || fail "summary world_size"

echo "-- refusals"
expect 2 "no simulated host 7" on_hosts --hosts 1,7 true
expect 2 "not a tc rate" sim rate 1 fast
if command -v setpriv > /dev/null 2>&1; then
    nobody=(setpriv --reuid 65534 --regid 65534 --clear-groups)
    expect 2 "must run as root" "${nobody[@]}" bash "$root/Cluster/sim-hosts.sh" up 2
    expect 2 "must run as root" "${nobody[@]}" bash "$root/Cluster/run-hosts.sh" true
fi
# up is idempotent: a second `up 2` keeps the hosts, addresses and the hostfile.
before=$(sim status 2>&1; cat "$GDQR_SIM_DIR/hostfile")
sim up 2 --rate 1gbit 2> /dev/null
after=$(sim status 2>&1; cat "$GDQR_SIM_DIR/hostfile")
[ "$before" = "$after" ] && echo "   second 'up 2' changed nothing" || fail "second up changed: $before // $after"
# The root namespace got nothing: no interface or address of the test subnet.
if ip -o addr | grep -q "$GDQR_SIM_SUBNET\."; then fail "an address of $GDQR_SIM_SUBNET.0/24 in the root namespace"
else echo "   root namespace has no address of $GDQR_SIM_SUBNET.0/24"; fi
exit $status
