#!/usr/bin/env bash
# The encoder's GPU checks in one run, sized for a short lease on one H100/H200 (about 8 minutes):
#
#   1. bench_embed.py         end-to-end embedding images/s from HDF5, ResNet50, bf16 + channels_last vs fp32 eager
#   2. bench_encoder_train.py training images/s (small preset and ResNet50), batched augmentations vs per image
#   3. a simulated survey (20,000 objects, the demo's seed, 128-px cutouts so the ResNet50's 96-px crop fits)
#   4. bench_enrichment.py    over several training recipes and seeds, trained and evaluated on the GPU, four at a
#                             time, until a deadline; each run writes its own JSON
#
# Everything lands in $OUT (default ./gpu-out): gpu_results.tgz (the sweep's JSONs and logs), gpu_checks.log and
# the throughput JSONs. Needs only torch, numpy, scipy, h5py, scikit-learn, matplotlib and tqdm (no pymilvus, no
# database). On an H200 (2026-11-26) steps 1-2 took about 70 s; one small-preset training of step 4 took about
# 5 minutes with four running at once (together about the images/s of one training step alone), and a ResNet50 one
# needs about 5 minutes alone, so step 4 needs a longer lease than 15 minutes to cover the list.
#
#   bash bench/gpu_checks.sh                                  # on the GPU machine
#   STAGES=embed EMBED_BATCHES="512 1024" bash bench/gpu_checks.sh   # throughput only (about 90 s)
#   SMOKE=1 DEVICE=cpu bash bench/gpu_checks.sh               # a tiny CPU dry run of every step (about 2 minutes)
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
DEADLINE=${DEADLINE:-480}     # seconds after the start by which the sweep stops launching and is cut off
STAGES=${STAGES:-"embed train sweep"}   # which of the steps to run (the survey is simulated for the sweep)
EMBED_BATCHES=${EMBED_BATCHES:-512}     # ResNet50 batch sizes for step 1
PY=${PY:-python3}
WORK=$(mktemp -d)
RES=$WORK/results
mkdir -p "$OUT" "$RES"
# LensDB's folders install as subpackages of lensdb (pyproject's [tool.setuptools.package-dir]); on a machine where
# it is not installed, a folder of links gives Python the same layout, read from the same table.
$PY - "$PWD" "$WORK/pkg" <<'PYEOF' || { echo "cannot lay out the lensdb package"; exit 1; }
import sys, tomllib
from pathlib import Path
repo, pkg = Path(sys.argv[1]), Path(sys.argv[2])
mapping = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
(pkg / "lensdb").mkdir(parents=True)
for item in (repo / mapping["lensdb"]).iterdir():
    (pkg / "lensdb" / item.name).symlink_to(item)
for name, folder in mapping.items():
    if name != "lensdb":
        (pkg / Path(*name.split("."))).symlink_to(repo / folder)
PYEOF
export PYTHONUNBUFFERED=1 PYTHONPATH=$WORK/pkg${PYTHONPATH:+:$PYTHONPATH}
START=$(date +%s)
left() { echo $((DEADLINE - ($(date +%s) - START))); }
log() { echo "[gpu_checks +$(($(date +%s) - START))s] $*"; }
exec > >(tee -a "$OUT/gpu_checks.log") 2>&1

if [ "$SMOKE" = 1 ]; then
  N_EMBED=256; BATCH=32; N_SURVEY=400; LENS_RATE=0.05; EPOCHS="--epochs 1"; PCA=8; PAR=2; PICK="^(all_s0|r50_s0)[|]"
  EXTRA="--set batch_size=32 --set queue_size=256"
  TRAIN_ARGS="--batch-size 16 --r50-batch 4 --repeats 1"
else
  N_EMBED=16384; BATCH=512; N_SURVEY=20000; LENS_RATE=0.015; EPOCHS=""; PCA=8,16; PAR=4; PICK=.; EXTRA=""
  TRAIN_ARGS="--batch-size 256 --r50-batch 256 --repeats 3 --threads 4"
fi

log "device $DEVICE, smoke $SMOKE, deadline ${DEADLINE}s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__,
 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"

has() { [[ " $STAGES " == *" $1 "* ]]; }

if has sweep; then  # 3, in the background on the CPU cores while 1 and 2 use the GPU
  log "simulating $N_SURVEY objects"
  cat > "$WORK/simulate.py" <<'PYEOF'  # a file, not stdin: the simulator's worker processes are spawned
import sys
from pathlib import Path
from lensdb.ingest.simulate import SimulateConfig, simulate_survey  # the lensdb CLI would import the catalogue side too
if __name__ == "__main__":
    n, rate, out = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
    config = SimulateConfig(n_objects=n, shard_size=2500, cutout=128, dtype="float16", lens_rate=rate, seed=2021,
                            workers=10, out_dir=out)
    result = simulate_survey(config, out, progress=False)
    print(f"simulated {n} objects into {len(result.shards)} shards: {dict(result.counts)}")
PYEOF
  $PY "$WORK/simulate.py" "$N_SURVEY" "$LENS_RATE" "$WORK/survey" > "$WORK/simulate.log" 2>&1 &
  SIM=$!
fi

if has embed; then
  for b in $EMBED_BATCHES; do
    [ "$SMOKE" = 1 ] && b=$BATCH
    log "1. embedding throughput, ResNet50, batch $b"
    timeout 150 $PY bench/bench_embed.py --device "$DEVICE" --preset resnet50 --n "$N_EMBED" --batch-size "$b" \
      --threads 4 --out "$OUT/embed_${DEVICE}_b$b.json" || log "bench_embed failed ($?)"
  done
  log "1b. embedding throughput, small preset"
  timeout 150 $PY bench/bench_embed.py --device "$DEVICE" --preset small --n "$N_EMBED" --batch-size "$BATCH" \
    --threads 4 --out "$OUT/embed_${DEVICE}_small.json" || log "bench_embed failed ($?)"
fi
if has train; then
  log "2. training throughput"
  timeout 150 $PY bench/bench_encoder_train.py --device "$DEVICE" $TRAIN_ARGS \
    --out "$OUT/encoder_train_$DEVICE.json" || log "bench_encoder_train failed ($?)"
fi
if ! has sweep; then log "done"; exit 0; fi

wait $SIM || { log "simulation failed"; cat "$WORK/simulate.log"; }
tail -2 "$WORK/simulate.log"

# 4: name | bench_enrichment arguments (the small preset's recipe unless --set says otherwise)
cat > "$WORK/jobs" <<EOF
small_s0|--train-seed 0
small_s7|--train-seed 7
all_s0|--train-seed 0 --set mag_bin_width=100
all_s7|--train-seed 7 --set mag_bin_width=100
r50_s0|--preset resnet50 --train-seed 0 --set mag_bin_width=100 --set queue_size=4096 --set lr=0.12 --set lr_batch=256 --set epochs=40 --set warmup_steps=40
all_s11|--train-seed 11 --set mag_bin_width=100
wide_s0|--train-seed 0 --set width=32
all_s13|--train-seed 13 --set mag_bin_width=100
all72_s0|--train-seed 0 --set mag_bin_width=100 --epochs 72
wide_s7|--train-seed 7 --set width=32
r50_s7|--preset resnet50 --train-seed 7 --set mag_bin_width=100 --set queue_size=4096 --set lr=0.12 --set lr_batch=256 --set epochs=40 --set warmup_steps=40
all_s2021|--train-seed 2021 --set mag_bin_width=100
EOF
grep -E "$PICK" "$WORK/jobs" > "$WORK/jobs.run"

run_job() {  # name|args: train and evaluate one recipe, unless the deadline is too close to finish it
  local name=${1%%|*} args=${1#*|} budget
  budget=$(left)
  if [ "$budget" -lt 60 ]; then echo "[$name] not started: ${budget}s left"; return 0; fi
  echo "[$name] start (${budget}s left)"
  # shellcheck disable=SC2086
  timeout "$budget" $PY bench/bench_enrichment.py --survey "$WORK/survey" --train-dir "$WORK/enc_$name" \
    --device "$DEVICE" --threads 3 --set num_workers=2 --pca "$PCA" --inv-dims 64 $EPOCHS $args $EXTRA \
    --out "$RES/enrichment_$name.json" > "$WORK/$name.log" 2>&1
  local rc=$?
  echo "[$name] finished after $(($(date +%s) - START))s"
  grep -E "top-100|learned /|objects," "$WORK/$name.log" | sed "s/^/[$name] /"
  [ $rc -eq 0 ] || { echo "[$name] exit $rc"; tail -5 "$WORK/$name.log" | sed "s/^/[$name] /"; }
}
export -f run_job left
export START DEADLINE PY WORK RES DEVICE PCA EPOCHS EXTRA
log "4. enrichment sweep, $PAR at a time"
tr '\n' '\0' < "$WORK/jobs.run" | xargs -0 -P "$PAR" -I{} bash -c 'run_job "$@"' _ {}

log "packing results"
cp "$WORK"/*.log "$RES/" 2>/dev/null
cp "$WORK/survey/survey.json" "$RES/" 2>/dev/null
tar -C "$WORK" -czf "$OUT/gpu_results.tgz" results
ls -la "$OUT"
log "done"
