"""Pictures a person looks at: image grids, spectrogram images, curves.

All functions return or write uint8 RGB arrays / PNG files; PNGs are written
atomically. Matplotlib (Agg backend) is used for colormaps and line plots.
"""

from __future__ import annotations

import io

import numpy as np

from tfav.files import atomic_write_bytes


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return matplotlib, plt


def to_uint8_image(x) -> np.ndarray:
    """A model image in [-1, 1] (``[H, W, 3]``) as uint8 RGB."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def spectrogram_rgb(lms, cmap: str = "magma", low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """A spectrogram ``[n_mels, frames]`` as an RGB image, low frequencies at the bottom.

    Args:
        lms: normalised log-mel in [-1, 1] (default range), or dB with
            ``low``/``high`` set to the dB range to show.
    """
    matplotlib, _ = _mpl()
    x = (np.asarray(lms, dtype=np.float32) - low) / (high - low)
    rgba = matplotlib.colormaps[cmap](np.clip(x[::-1], 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def _resize(cell: np.ndarray, height: int) -> np.ndarray:
    from PIL import Image

    if cell.shape[0] == height:
        return cell
    width = max(1, round(cell.shape[1] * height / cell.shape[0]))
    return np.asarray(Image.fromarray(cell).resize((width, height), Image.NEAREST))


def image_grid(rows, cell_height: int = 64, pad: int = 2, row_labels=None, col_labels=None):
    """Stack rows of uint8 RGB cells into one image with optional text labels.

    Cells of a row may differ in width (images and spectrograms side by side);
    each is scaled to ``cell_height`` keeping its aspect ratio.
    """
    from PIL import Image, ImageDraw

    rows = [[_resize(np.asarray(c, dtype=np.uint8), cell_height) for c in r] for r in rows]
    label_w = 0 if not row_labels else 8 + 6 * max(len(str(s)) for s in row_labels)
    label_h = 0 if not col_labels else 14
    widths = [sum(c.shape[1] for c in r) + pad * (len(r) - 1) for r in rows]
    width = label_w + max(widths) + 2 * pad
    height = label_h + len(rows) * (cell_height + pad) + pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x_starts = []
    for i, r in enumerate(rows):
        x, y = label_w + pad, label_h + pad + i * (cell_height + pad)
        starts = []
        for c in r:
            canvas.paste(Image.fromarray(c), (x, y))
            starts.append(x)
            x += c.shape[1] + pad
        x_starts.append(starts)
        if row_labels:
            draw.text((2, y + cell_height // 2 - 5), str(row_labels[i]), fill=(0, 0, 0))
    if col_labels and x_starts:
        for x, text in zip(x_starts[0], col_labels, strict=False):
            draw.text((x, 1), str(text), fill=(0, 0, 0))
    return np.asarray(canvas)


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path, image: np.ndarray) -> None:
    """Write a uint8 RGB array as PNG, atomically."""
    atomic_write_bytes(path, png_bytes(image))


def line_plot(path, series: dict[str, tuple[list, list]], title: str, xlabel: str, ylabel: str):
    """Write a PNG line plot of ``{name: (xs, ys)}`` (e.g. accuracy versus epoch, Chen Fig. 9)."""
    _, plt = _mpl()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
