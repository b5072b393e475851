"""Writes tf1_resize_witness.npz: TensorFlow's own legacy bilinear resize of seeded images, the
witness tests/test_resize.py holds gan.metrics.resize.tf1_bilinear to. Run it where TensorFlow
installs (`pip install tensorflow-cpu numpy`); the project itself never imports TensorFlow.

Each case is an image of seeded uint8 pixels (numpy's RandomState, whose stream is fixed across
numpy versions), resized to 299x299 by `tf.compat.v1.image.resize_bilinear` (align_corners=False,
no half-pixel centres). Kept: the last row and column (where the second neighbour is clamped)
and 1,000 seeded positions.
"""

from pathlib import Path

import numpy as np

CASES = {
    "grey28": (28, 28, 1),
    "rgb32": (32, 32, 3),
    "wide64x48": (64, 48, 3),
    "down300": (300, 310, 1),
}
SIZE = 299


def case_image(name: str) -> np.ndarray:
    """The seeded (H, W, C) uint8 image of a case."""
    seed = sorted(CASES).index(name)
    return np.random.RandomState(seed).randint(0, 256, CASES[name]).astype(np.uint8)


def case_positions(name: str, channels: int) -> np.ndarray:
    """(K, 3) rows, columns and channels kept: the last row, the last column, 1,000 seeded."""
    edge = np.arange(SIZE)
    last = np.full(SIZE, SIZE - 1)
    rng = np.random.RandomState(100 + sorted(CASES).index(name))
    seeded = rng.randint(0, SIZE, (1000, 2))
    rows = np.concatenate([last, edge, seeded[:, 0]])
    cols = np.concatenate([edge, last, seeded[:, 1]])
    chans = rng.randint(0, channels, len(rows))
    return np.stack([rows, cols, chans], axis=1)


if __name__ == "__main__":
    import tensorflow as tf

    out = {}
    for name, (_, _, channels) in CASES.items():
        image = case_image(name).astype(np.float32)[None]  # (1, H, W, C)
        resized = tf.compat.v1.image.resize_bilinear(image, (SIZE, SIZE), align_corners=False)
        resized = resized.numpy()[0]  # (299, 299, C)
        r, c, ch = case_positions(name, channels).T
        out[name] = resized[r, c, ch].astype(np.float32)
    path = Path(__file__).with_name("tf1_resize_witness.npz")
    np.savez_compressed(path, **out, tensorflow=tf.__version__)
    print({name: values.shape for name, values in out.items() if name != "tensorflow"})
