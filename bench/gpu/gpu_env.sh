# Sourced by the one-call GPU scripts (check.sh, speed.sh) on the GPU machine, from the
# repository root: gpu_env W unpacks the Debian libraries that `check.sh pack` put in build-gpu/lib
# into W/lib and sets ORDO_LD_PATH to them and the image's CUDA 13 libraries (its toolkit or
# PyTorch's wheels) and NCCL, with cudalib, cudart and nccl naming where those were found.
gpu_env() {
  local W=$1 f
  mkdir -p "$W/lib"
  for f in build-gpu/lib/*.xz; do xz -dc "$f" > "$W/lib/$(basename "${f%.xz}")"; done
  cudalib=$(dirname "$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
  cudart=$(dirname "$(find / -name 'libcudart.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)")
  nccl=$(dirname "$(find / -name 'libnccl.so.2' -not -path '/proc/*' 2>/dev/null | head -1)")
  ORDO_LD_PATH=$W/lib:$cudalib:$cudart:$nccl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}
