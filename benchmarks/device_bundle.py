"""Pack what the GPU checks need into ``.device/`` (git-ignored), for a lent machine that reaches nothing.

The team's GPU machine has PyTorch and transformers but none of our offline assets, and a call carries
at most 64 MiB. This writes an assets folder in the layout ``bench.core.assets`` reads:

* ``models/minilm-l6/``: all-MiniLM-L6-v2 with its weights stored in float16 (45 MB instead of 91 MB; the
  suite loads them as float32, so results differ from the float32 original in the last bits — fine for
  throughput, not for reporting accuracies);
* ``data/sst2/`` and ``data/synonyms/``: copies of the assets folder's files (never committed).

Then, in one device call (``carry: [".device"]``)::

    bash benchmarks/device_checks.sh

``device_checks.sh`` runs the GPU benchmarks and writes their JSON under ``$OUT``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".device")
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file, save_file

    from bench.core.assets import AssetConfig
    from bench.core.models import resolve_model

    assets = AssetConfig.from_env()
    roots = [root for _, root in assets.local_roots()]
    if not roots:
        raise SystemExit("set RIFT_BENCH_ASSETS (or --assets) to the folder with data/sst2 and data/synonyms")
    out = args.out / "assets"
    model_src = resolve_model("minilm-l6", assets).value
    model_dst = out / "models" / "minilm-l6"
    model_dst.mkdir(parents=True, exist_ok=True)
    for path in Path(model_src).iterdir():
        if path.is_file() and path.suffix in (".json", ".txt") and path.name != "model.safetensors":
            shutil.copy2(path, model_dst / path.name)
    weights = load_file(str(Path(model_src) / "model.safetensors"))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()},
              str(model_dst / "model.safetensors"), metadata={"format": "pt"})
    for folder in ("sst2", "synonyms"):
        source = next((root / "data" / folder for root in roots if (root / "data" / folder).is_dir()), None)
        if source is None:
            raise SystemExit(f"no data/{folder} under {', '.join(map(str, roots))}")
        shutil.copytree(source, out / "data" / folder, dirs_exist_ok=True)
    size = folder_bytes(args.out)
    print(f"wrote {args.out} ({size / 2**20:.1f} MiB)")
    report_carried(size)


#: what one device call carries at most: the working tree (tracked and untracked, not ignored) and the carried paths
CALL_LIMIT = 64 * 2**20
#: the committed study records, which the GPU checks do not need: staged out of the working tree for a call (the
#: study's grid files stay: the checks run results/study/precision/grid.yaml)
RECORDS = "results/study/runs"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def tree_bytes() -> int:
    """The working tree a device call copies: tracked files that exist and untracked files git does not ignore."""
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sum((ROOT / name).stat().st_size for name in listed if name and (ROOT / name).is_file())


def report_carried(bundle: int) -> None:
    """The size a call with ``carry: [".device"]`` would carry now, and how to make it fit when it does not."""
    tree = tree_bytes()
    total = tree + bundle
    print(f"a device call now carries {total / 2**20:.1f} MiB (working tree {tree / 2**20:.1f} MiB + .device "
          f"{bundle / 2**20:.1f} MiB; limit {CALL_LIMIT / 2**20:.0f} MiB)")
    if total > CALL_LIMIT:
        records = folder_bytes(ROOT / RECORDS) if (ROOT / RECORDS).is_dir() else 0
        print(f"too large: stage the committed records ({RECORDS}, {records / 2**20:.1f} MiB) out of the working tree "
              f"for the call, then put them back:\n  mv {RECORDS} /tmp/rift-bench-study   # before the call\n"
              f"  rm -rf {RECORDS} && mv /tmp/rift-bench-study {RECORDS}   # after it (or: git checkout -- {RECORDS})")
        if total - records > CALL_LIMIT:
            print("still too large without them: slim .device")


if __name__ == "__main__":
    main()
