#!/usr/bin/env bash
# One NCCL rank against no MPI on a GPU machine: tests/train/test_dist_nccl (the device-buffer
# sum, reduce-scatter and all-gather compared bit for bit with the host's) run where the GPU is.
#
#   bash bench/gpu/nccl_check.sh pack BUILD_DIR   here: BUILD_DIR/train_test_dist_nccl (a build
#                                                 with ORDO_NCCL on) and the shared libraries a
#                                                 GPU image lacks (Open MPI's, cudart) into
#                                                 build-gpu/ (ignored), to carry
#   bash bench/gpu/nccl_check.sh run              there: finds libnccl.so.2 (the image's
#                                                 PyTorch wheel ships one), runs the test and
#                                                 writes $OUT/report.txt
set -u
case "${1:-}" in
pack)
  b=${2:?usage: nccl_check.sh pack BUILD_DIR}
  t=$b/train_test_dist_nccl
  ldd "$t" | grep -q libnccl || { echo "$t: not built with NCCL (ORDO_NCCL off)" >&2; exit 1; }
  rm -rf build-gpu && mkdir -p build-gpu/lib && cp "$t" build-gpu/
  ldd "$t" | awk '/libmpi|libopen-|libhwloc|libevent|libudev|libcudart/ {print $3}' |
    while read -r l; do cp -L "$l" build-gpu/lib/; done
  du -sh build-gpu ;;
run)
  R=${OUT:-.}/report.txt
  {
    date; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    nccl=$(dirname "$(find / -name 'libnccl.so.2' -not -path '/proc/*' 2>/dev/null | head -1)")
    echo "libnccl.so.2 from $nccl"
    export LD_LIBRARY_PATH=$PWD/build-gpu/lib:$nccl:${LD_LIBRARY_PATH:-}
    ldd build-gpu/train_test_dist_nccl | grep -E "not found|nccl|cudart|mpi"
    NCCL_DEBUG=WARN ./build-gpu/train_test_dist_nccl; echo "rc=$?"
  } >"$R" 2>&1
  cat "$R" ;;
*) echo "usage: nccl_check.sh pack BUILD_DIR | run" >&2; exit 2 ;;
esac
