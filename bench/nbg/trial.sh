#!/bin/sh
# A NAS-Bench-Graph child (bench/nbg/nbg.toml): answers from the table that
# bench/nbg/precompute.py wrote (NBG_TABLE, set in child.command.env), in a
# few milliseconds. It reports the table's validation accuracy as its
# metric; the test accuracy stays in the table (bench/nbg/report.py reads
# it for the best architecture of a search, never during it).
#
# The architecture file is {"link": "0123", "node": [{"op": "gcn"}, ...]}.
set -eu
[ -n "${NBG_TABLE:-}" ] || { echo "NBG_TABLE is not set (a table of bench/nbg/precompute.py)" >&2; exit 2; }
[ -r "$NBG_TABLE" ] || { echo "cannot read NBG_TABLE=$NBG_TABLE: run bench/nbg/precompute.py first" >&2; exit 2; }
# Words of the file: link L node op A op B op C op D
set -- $(tr -c 'a-z0-9' ' ' < "$NAS_ARCH_FILE")
[ $# -eq 11 ] && [ "$1" = link ] || { echo "unexpected architecture: $*" >&2; exit 2; }
case $2 in
  0000) i=0 ;; 0001) i=1 ;; 0011) i=2 ;; 0012) i=3 ;; 0013) i=4 ;;
  0111) i=5 ;; 0112) i=6 ;; 0122) i=7 ;; 0123) i=8 ;;
  *) echo "unknown link pattern $2" >&2; exit 2 ;;
esac
shift 3
for w in "$@"; do
  [ "$w" = op ] && continue
  case $w in
    gat) o=0 ;; gcn) o=1 ;; gin) o=2 ;; cheb) o=3 ;; sage) o=4 ;;
    arma) o=5 ;; graph) o=6 ;; fc) o=7 ;; skip) o=8 ;;
    *) echo "unknown operation $w" >&2; exit 2 ;;
  esac
  i=$((i * 9 + o))
done
# One fixed-width record of 32 bytes: "<validation> <test>" or "- -".
set -- $(dd if="$NBG_TABLE" bs=32 skip="$i" count=1 2>/dev/null)
[ "${1:--}" != - ] || { echo "not in the table (every node is a skip connection)" >&2; exit 1; }
echo "{\"metric\": $1}"
