"""What the trainer prints: log lines on stderr (through tqdm when progress bars are on),
the per-epoch line and the closing summary."""

from __future__ import annotations

import sys


class _Log:
    """Prints to stderr, through tqdm when bars are active so lines do not break them."""

    def __init__(self, progress: bool):
        self.tqdm = None
        if progress:
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass

    def __call__(self, msg: str):
        if self.tqdm is not None:
            self.tqdm.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def bar(self, total: int, desc: str):
        return (
            None if self.tqdm is None else self.tqdm(total=total, desc=desc, leave=False, file=sys.stderr, disable=None)
        )


def _count(n: int, word: str) -> str:
    """``"1 device"``, ``"2 devices"``; ``"1 class"``, ``"3 classes"``; ``"3 epochs"``."""
    if n == 1:
        return f"1 {word}"
    # "-ch" takes "-es" where it is soft (a batch, a match), not in "epoch"
    sibilant = word.endswith(("s", "sh", "x")) or (word.endswith("ch") and not word.endswith("epoch"))
    return f"{n} {word}es" if sibilant else f"{n} {word}s"


def _format_epoch(r: dict, epochs: int) -> str:
    s = f"epoch {r['epoch']}/{epochs}: loss {r['train_loss']:.4f}, train acc {r['train_accuracy']:.4f}"
    if "test_accuracy" in r:
        s += f", test acc {r['test_accuracy']:.4f}"
    ips = r["images_per_second"]
    return s + f", {r['epoch_seconds']:.1f} s" + (f" ({ips:.0f} img/s)" if ips else "")


def _rotation_note(group: str | None) -> str:
    """Why a large 90-degree rotation error may be expected of this model."""
    if group is None:
        return " (the plain CNN is not equivariant: no invariance is expected)"
    n = int(group[1:])
    if n % 4:
        return f" ({group} has no 90-degree rotation: no invariance to it is expected)"
    return ""


def _format_summary(s: dict) -> str:
    ips = s["train_images_per_second"]
    group = s.get("group", "C?" if s["model"] != "cnn" else None)
    lines = [
        f"test accuracy {100 * s['test_accuracy']:.2f}% on {s['test_images']} {s['dataset']} test digits "
        f"(loss {s['test_loss']:.4f}; evaluated in {s['eval_seconds']:.1f} s)",
        f"training throughput {ips:.0f} images/s on {_count(s['devices'], s['platform'] + ' device')}"
        if ips
        else "training throughput: n/a (no steady-state steps in this run)",
        f"invariance under 90-degree rotations: relative logit error {s['invariance_error_rot90']:.2e}, "
        f"predictions agree {100 * s['prediction_agreement_rot90']:.2f}%" + _rotation_note(group),
    ]
    if "invariance_error_flip" in s:
        lines.append(
            f"invariance under the mirror image (left-right flip): relative logit error "
            f"{s['invariance_error_flip']:.2e}, predictions agree {100 * s['prediction_agreement_flip']:.2f}%"
        )
    return "\n".join(lines)
