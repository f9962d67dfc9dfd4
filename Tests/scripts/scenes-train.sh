#!/usr/bin/env bash
# Scene models in the trainer, on tiny runs of the committed configs
# (32x32 scenes, ResNet-8 of width 8, 96 training / 32 test scenes, 6 steps per
# phase: FP32, then GDQR W4A4):
#  1. detection (CenterNet) and segmentation (FCN) train through both phases;
#     summary.json carries their test metrics within range (and the confusion
#     matrix for segmentation); pictures/test-scenes-{fp32,w4a4}.svg are written
#     and every PNG embedded in them decodes (CRCs and sizes checked by Python's zlib);
#  2. a run killed by SIGKILL (in the FP32 phase, and in the W4A4 phase) and
#     resumed with --resume auto ends bit-identical to the uninterrupted run;
#  3. 2 ranks under mpirun complete (world_size 2 in the summary), and with
#     SyncBN 2 ranks x batch 8 end 2 FP32 steps with the parameters of 1 rank x
#     batch 16 (whole-vector relative difference <= 1e-5; detection reweights
#     each rank's losses to the global centre and object counts).
# GDQR_TRAIN_BIN overrides the binary (default .build/release/gdqr-train).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

tiny=(--quiet --set data.scene_size=32 --set model.image_size=32 --set model.width=8 --set model.head_channels=16
      --set data.train_limit=96 --set data.test_limit=32 --set train.batch_size=16 --set train.threads=1
      --set quant.fp32_phase_epochs=1 --set train.epochs=1 --set checkpoint.every_steps=1
      --set train.log_every_steps=2 --set schedule.warmup_epochs=0)

# check_run DIR TASK WORLD: summary keys and ranges, pictures and their PNGs.
check_run() {
    "$py" - "$@" <<'PY'
import base64, json, os, re, struct, sys, zlib
run, task, world = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(os.path.join(run, "summary.json")))
keys = ["test_map", "test_map50", "fp32_test_map", "fp32_test_map50"] if task == "det" else \
       ["test_miou", "test_miou_with_background", "test_pixel_accuracy", "fp32_test_miou"]
problems = [k for k in keys if not (isinstance(s.get(k), (int, float)) and 0 <= s[k] <= 1)]
if s.get("world_size") != world: problems.append(f"world_size {s.get('world_size')}")
if task == "seg":
    m = s.get("test_confusion_matrix")
    if not (isinstance(m, list) and len(m) == 11 and all(len(r) == 11 for r in m)):
        problems.append("test_confusion_matrix is not 11x11")
    elif sum(map(sum, m)) != 32 * 32 * 32:
        problems.append(f"confusion matrix counts {sum(map(sum, m))} pixels, expected {32 * 32 * 32}")
    elif abs(sum(m[i][i] for i in range(11)) / (32 * 32 * 32) - s["test_pixel_accuracy"]) > 1e-12:
        problems.append("pixel accuracy disagrees with the confusion matrix")
pngs = 0
for phase in ["fp32", "w4a4"]:
    p = os.path.join(run, "pictures", f"test-scenes-{phase}.svg")
    if not os.path.exists(p):
        problems.append(f"no {p}"); continue
    for b64 in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)', open(p).read()):
        data = base64.b64decode(b64)
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
        pos, chunks = 8, {}
        while pos < len(data):
            n, = struct.unpack(">I", data[pos:pos + 4]); typ = data[pos + 4:pos + 8]
            body = data[pos + 8:pos + 8 + n]; crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
            assert zlib.crc32(typ + body) == crc, f"bad CRC in {typ}"
            chunks[typ] = body; pos += 12 + n
        w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
        raw = zlib.decompress(chunks[b"IDAT"])
        assert (w, h, depth) == (32, 32, 8) and len(raw) == h * (1 + w * (1 if colour == 0 else 3)), "PNG geometry"
        pngs += 1
need = 8 if task == "det" else 12   # 4 scenes x (1 image | 3 images) x ... per picture
if pngs < need: problems.append(f"{pngs} decodable PNGs in the pictures, expected >= {need}")
if problems:
    sys.exit("; ".join(problems))
vals = ", ".join(f"{k} {s[k]:.4f}" for k in keys)
print(f"{task}: {vals}; {pngs} PNGs in the pictures decode")
PY
}

for task in det seg; do
    cfg=$root/configs/fashion-scenes-$task-w4a4.yaml
    args=(--config "$cfg" "${tiny[@]}")
    echo "-- $task: train (FP32 phase, then W4A4)"
    "$train" "${args[@]}" --out "$tmp/$task"
    check_run "$tmp/$task" "$task" 1 || fail "$task run"

    echo "-- $task: killed, resumed"
    # 6 steps per phase: step 4 is in the FP32 phase, step 9 in the W4A4 phase.
    for k in 4 9; do
        out=$tmp/$task-kill$k
        code=0
        # The process kills itself (SIGKILL) before renaming checkpoint k into place.
        GDQR_FAULT_KILL_BEFORE_RENAME=$(printf 'step-%08d.gdqrckpt' $k) "$train" "${args[@]}" --out "$out" \
            > "$out.log" 2>&1 || code=$?
        [ "$code" = 137 ] || fail "$task: the run meant to be killed at step $k exited $code"
        latest=$(cat "$out/checkpoints/latest" 2>/dev/null || echo none)
        "$train" "${args[@]}" --out "$out" --resume auto
        compare_params 0 "$tmp/$task/model-w4a4.safetensors" "$out/model-w4a4.safetensors" \
            "killed while writing step $k (latest $latest), resumed" "$task resume after a kill at step $k"
    done

    echo "-- $task: 2 ranks"
    "$run" 2 "$train" "${args[@]}" --out "$tmp/$task-2"
    check_run "$tmp/$task-2" "$task" 2 || fail "$task on 2 ranks"

    eq=(--config "$root/configs/fashion-scenes-$task-fp32.yaml" "${tiny[@]}" --set quant.fp32_phase_epochs=0 --set data.train_limit=32
        --set schedule.kind=constant --set distributed.sync_bn=true)
    "$train" "${eq[@]}" --out "$tmp/$task-eq1"
    "$run" 2 "$train" "${eq[@]}" --out "$tmp/$task-eq2"
    compare_params 1e-5 "$tmp/$task-eq1/model-fp32.safetensors" "$tmp/$task-eq2/model-fp32.safetensors" \
        "2 ranks (SyncBN) vs 1 rank after 2 steps" "$task: 2 ranks differ from 1 rank"
done
exit $status
