"""``python -m tfav.evaluate RUN``: measure a trained generator (Chen et al. sec. 5).

S2I runs: verifier accuracy of generated images on train and validation
conditions (Table 5), Inception-style score (10 splits), Frechet distance on
the verifier's 128-d features, diversity (distance between images generated
from one sound with different z, relative to real within-class distance), and
for one-instrument runs on data with pose ground truth the pose error of
generated images next to chance; and measures of realism that nothing in training
reads: per-class accuracy and the confusion matrix, the radial power-spectrum gap and
the total-variation ratio to real frames (with the two real halves as reference), the
noise spread, and FID/KID on the features of a judge network of another architecture
(``--no-judge`` skips it). I2S runs: accuracy of generated spectrograms
under the sound classifier (sec. 5.4). Writes ``metrics.json``, prints a table,
and draws accuracy versus epoch (Fig. 9) as ``accuracy_curve.png``.

The measures live in ``tfav.probe`` (also used every epoch during training);
``tfav.training.evaluate_run`` loads the run and its evaluators and writes the files.
"""

from __future__ import annotations

import argparse
import sys

from tfav.cli import number_in, one_line_errors
from tfav.training import evaluate_run


@one_line_errors
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfav.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder written by python -m tfav.train")
    p.add_argument("--n", type=number_in(int, 2), default=512,
                   help="conditions per split (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="the last epoch (default) or the run's best.keras")
    p.add_argument("--no-judge", action="store_true", help="S2I: skip the judge FID/KID "
                   "(whose network is trained once per dataset when the cache has none)")
    args = p.parse_args(argv)
    evaluate_run(args.run, n=args.n, seed=args.seed, checkpoint=args.checkpoint,
                 judge=not args.no_judge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
