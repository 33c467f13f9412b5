#!/usr/bin/env bash
# Installs what nas-actor needs, skipping whatever is already there:
#   .venv/             Python virtual environment with torch==2.13.0 (libtorch for tch 0.26)
#                      and the `treebank` package (Penn Treebank texts)
#   data/ptb/          ptb.{train,valid,test}.txt written from `treebank`
#   /usr/share/datasets/fashion-mnist   Debian package dataset-fashion-mnist (when root)
#   slurmctld slurmd slurm-client munge  Debian packages for the tests on a local Slurm
#                      cluster (when root; the tests start and stop their own daemons)
#   chromium           Debian package for the dashboard's browser test (when root)
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import torch, treebank, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: creating .venv with torch==$TORCH_VERSION and treebank (a few minutes the first time)"
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" treebank
fi

if [ ! -s data/ptb/ptb.test.txt ] || [ ! -s data/ptb/ptb.train.txt ] || [ ! -s data/ptb/ptb.valid.txt ]; then
  echo "setup: writing data/ptb from the treebank package"
  .venv/bin/python scripts/ptb_from_treebank.py data/ptb
fi

FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian package dataset-fashion-mnist"
    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }) \
      || echo "setup: could not install dataset-fashion-mnist; Fashion-MNIST checks will be skipped"
  else
    echo "setup: Fashion-MNIST missing; install it with: sudo apt-get install dataset-fashion-mnist"
  fi
fi

SLURM_PACKAGES="slurmctld slurmd slurm-client munge"
missing_slurm=""
for p in $SLURM_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_slurm="$missing_slurm $p"
done
if [ -n "$missing_slurm" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages$missing_slurm (a local Slurm cluster for the tests)"
    # The packages' own services are not wanted: the tests start their own daemons.
    (RUNLEVEL=1 apt-get install -y -qq $missing_slurm >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && RUNLEVEL=1 apt-get install -y -qq $missing_slurm >/dev/null 2>&1; }) \
      || echo "setup: could not install$missing_slurm; the Slurm tests will be skipped"
  else
    echo "setup: Slurm missing ($missing_slurm); the Slurm tests need root and: sudo apt-get install$missing_slurm"
  fi
fi

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian package chromium (the dashboard's browser test)"
    (apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) \
      || echo "setup: could not install chromium; the dashboard's browser test will be skipped"
  else
    echo "setup: chromium missing; the dashboard's browser test needs: sudo apt-get install chromium"
  fi
fi
