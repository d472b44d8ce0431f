"""Same or not same? Train a Siamese encoder on MRPC paraphrases, then decide new pairs.

``train`` is the code path of ``siamtext train --dataset mrpc``: contrastive loss on MRPC's 0/1
pairs, then a threshold (best F1) and a Platt probability map fitted on validation and saved with
the model (``siamese_calibration.json``). ``siamese_text.calibration.predict_pairs`` reads them back, so any new pair gets its cosine
similarity, P(same) and a decision, with no threshold to pick by hand. The zero-shot model is
calibrated the same way beside it, for comparison.

    flock /tmp/siamese_bench.lock python examples/paraphrase_decisions.py   # MRPC defaults, ~8 min on 2 cores
    python examples/paraphrase_decisions.py --max-pairs 400 --epochs 1      # a quick run (~2 min)

The second pair (loss / profit) shows a limit worth knowing: a sentence encoder sees two sentences
that differ in one word as near-paraphrases, and MRPC's training pairs rarely teach otherwise.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PAIRS = [
    ("The company posted a loss of $5 million in the third quarter.",
     "A third-quarter loss of $5 million was reported by the company."),
    ("The company posted a loss of $5 million in the third quarter.",
     "The company posted a profit of $5 million in the third quarter."),
    ("He was arrested on Tuesday after a two-week search.",
     "Police caught him on Tuesday, ending a search that lasted two weeks."),
    ("He was arrested on Tuesday after a two-week search.",
     "Shares of the firm rose 3 percent on Tuesday."),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/example-mrpc")
    parser.add_argument("--max-pairs", type=int, default=None, help="train on at most this many MRPC pairs")
    parser.add_argument("--epochs", type=int, default=None, help="default: the measured MRPC default (3)")
    args = parser.parse_args()

    from siamese_text import SiameseEncoder, TrainConfig, load_data, train
    from siamese_text.calibration import calibrate_model_dir, predict_pairs
    from siamese_text.encoder import DEFAULT_MODEL

    config = TrainConfig(dataset="mrpc", output=args.output, overwrite=True, max_pairs=args.max_pairs, epochs=args.epochs)
    result = train(config)
    trained = SiameseEncoder.load(result.output)

    # The zero-shot model, calibrated on the same validation pairs, in a folder of its own.
    zero_shot_dir = f"{args.output}-zero-shot"
    zero_shot = SiameseEncoder.from_pretrained(DEFAULT_MODEL)
    if not Path(zero_shot_dir).exists():
        zero_shot.save(zero_shot_dir)
    calibrate_model_dir(zero_shot, zero_shot_dir, load_data("mrpc").split("validation"), dataset="nyu-mll/glue",
                        config="mrpc")
    zero_shot = SiameseEncoder.load(zero_shot_dir)

    for name, encoder in (("zero-shot", zero_shot), ("trained", trained)):
        print(f"\n{name}: {encoder.name_or_path}")
        print(f"{'cosine':>7} {'P(same)':>8} {'same':>5}  pair")
        for p in predict_pairs(encoder, PAIRS):
            print(f"{p.score:7.3f} {p.probability:8.3f} {str(p.same):>5}  {p.text_a[:40]!r} / {p.text_b[:40]!r}")
    figures = result.metrics["validation"]
    print(f"\ntrained model on MRPC validation: accuracy {figures['cosine_fitted_accuracy_accuracy']:.2f} at the "
          f"threshold best on train, F1 {figures['cosine_f1']:.2f}, average precision {figures['cosine_ap']:.2f}")


if __name__ == "__main__":
    main()
