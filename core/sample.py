"""The sampling command line: ``python -m core.sample --checkpoint PATH --policy learned --n 16 --seed 0``
prints the decoded samples (``--show-order`` adds each decoding order). The samplers are in
``core/decoding/``."""

from __future__ import annotations

import argparse
import sys

from core import limits, rng
from core.checks import check_int
from core.cli import CHECKPOINT_HELP, open_checkpoint
from core.decoding import POLICIES, Policy, sample
from core.tasks import check_samples, format_sample


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        check_int("--n", args.n, 1, limits.MAX_SAMPLES)
        ckpt = open_checkpoint(args.checkpoint)
        policy = Policy.parse(args.policy)
        limits.check_seconds(f"decoding {args.n} samples", limits.decode_seconds(ckpt.model.config, args.n,
                                                                               args.steps), limits.CLI_SECONDS)
        samples, traj = sample(ckpt.model, ckpt.meta, policy, args.n, rng.make_generator(args.seed),
                               schedule=ckpt.schedule, temperature=args.temperature, k=args.k,
                               steps=args.steps)
    except ValueError as e:
        parser.error(str(e))
    meta = ckpt.meta
    print(f"# {args.n} samples of {meta.name!r}, policy {traj.policy}, seed {args.seed}, "
          f"{traj.num_steps} steps")
    texts = [format_sample(meta, s) for s in samples]
    gap = "\n" if any("\n" in t for t in texts) else ""
    for text, order in zip(texts, traj.orders.tolist()):
        print(text + gap)
        if args.show_order:
            print("  order: " + " ".join(meta.position_names[p] for p in order))
    valid = check_samples(meta, samples)
    if valid is not None:
        print(f"# valid: {int(valid.sum())}/{len(valid)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.sample",
                                description="Draw samples from a checkpoint with a decoding policy and print "
                                            "them decoded.")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--policy", default="learned",
                   help=f"decoding policy: one of {', '.join(POLICIES)}, or a fixed order such as 3-0-2-1 "
                        "(default: learned)")
    p.add_argument("--n", type=int, default=16, help="number of samples (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--k", type=int, default=1, help="positions revealed per step (default: 1)")
    p.add_argument("--steps", type=int, default=None,
                   help="time-grid steps of the ancestral sampler (default: the sequence length)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature; 0 picks the most likely token (default: 1.0)")
    p.add_argument("--show-order", action="store_true", help="also print each sample's decoding order")
    return p


if __name__ == "__main__":
    sys.exit(main())
