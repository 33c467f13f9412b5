"""Write the Penn Treebank language-modelling files (ptb.train/valid/test.txt)
from the `treebank` Python package into the directory given as argv[1]."""
import os
import sys

import treebank

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for split in ("train", "valid", "test"):
    text = treebank.penn[split]
    if split == "train" and text.endswith("\n\n"):
        text = text[:-1]  # the package keeps one extra trailing newline on train
    tmp = os.path.join(out, f".ptb.{split}.txt.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, os.path.join(out, f"ptb.{split}.txt"))
