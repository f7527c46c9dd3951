"""Keras callbacks of a training run: checkpoints, NaN guard, samples, live evaluation.

Order matters: callbacks that add metrics to ``logs`` (:class:`GeneratedQuality`)
come before those that record them (TensorBoard, :class:`RunCheckpoint`).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import keras
import tensorflow as tf

from tfav.files import atomic_write_bytes
from tfav.runs import BEST, CHECKPOINT, STATE, save_model_atomically
from tfav.visualize import save_png


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch: the whole model (with optimizer state) and the history.

    The state (the epoch, the history, the seconds) is saved inside the
    checkpoint file, which is renamed into place in one step, so an interruption
    at any instant (even ``kill -9``) leaves a model and a state of the same
    epoch and resuming neither repeats nor loses a finished epoch
    (``runs.read_state``). ``state.json``, the same state for people and tools,
    is written next. The seconds are those of finished epochs, summed over
    resumed sessions (``seconds``: what earlier sessions spent).
    """

    def __init__(self, run_dir, history: list[dict], seconds: float = 0.0):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history = history
        self.seconds = float(seconds)
        self._epoch_start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        if any(not math.isfinite(v) for v in row.values()):
            return  # NanGuard stops the run; keep the last good checkpoint
        self.history.append(row)
        self.seconds += time.monotonic() - self._epoch_start
        state = {"epoch": epoch + 1, "history": self.history, "seconds": round(self.seconds, 1)}
        save_model_atomically(self.model, self.run_dir / CHECKPOINT, state=state)
        atomic_write_bytes(self.run_dir / STATE, json.dumps(state, indent=1).encode())


class BestCheckpoint(keras.callbacks.Callback):
    """Keep the model of the best epoch so far as ``best.keras`` (written atomically).

    A GAN's quality swings from epoch to epoch and can decay late, when the
    discriminator overpowers the generator, so the last epoch is not always
    the best. The choice uses a metric on *training* conditions (``key``, e.g.
    ``selection_train``, see ``tfav.probe.selection_score``), which leaves the validation numbers
    an unbiased measure of the chosen model. On resume the best so far is
    read from the history.

    Args:
        run_dir: the run folder.
        key: the epoch log to select by (added by ``GeneratedQuality``).
        mode: ``"max"`` or ``"min"``.
        history: the run's rows so far (``state.json``).
    """

    def __init__(self, run_dir, key: str, mode: str, history: list[dict]):
        super().__init__()
        self.run_dir, self.key, self.mode = Path(run_dir), key, mode
        rows = [h for h in history if math.isfinite(h.get(key, math.nan))]
        self.best = None
        if rows and (self.run_dir / BEST).exists():
            pick = max if mode == "max" else min
            row = pick(rows, key=lambda h: h[key])
            self.best = {"epoch": row["epoch"], key: row[key]}

    def _better(self, value):
        if self.best is None:
            return True
        old = self.best[self.key]
        return value > old if self.mode == "max" else value < old

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {}).get(self.key, math.nan))
        if math.isfinite(value) and self._better(value):
            save_model_atomically(self.model, self.run_dir / BEST)
            self.best = {"epoch": epoch + 1, self.key: value}


class NanGuard(keras.callbacks.Callback):
    """Stop at the first non-finite loss and remember where, for a clear error."""

    def __init__(self):
        super().__init__()
        self.failure: str | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if "loss" in name and not math.isfinite(float(value)):
                self.failure = (
                    f"{name} became {float(value)} at epoch {self.epoch + 1}, batch {batch}"
                )
                self.model.stop_training = True
                return


class SampleGrid(keras.callbacks.Callback):
    """A PNG grid per epoch from fixed conditions and fixed noise (and TensorBoard images).

    Rows are conditions; the first columns show the real pair, the others
    generated samples with the same noise every epoch, so epochs compare.
    """

    def __init__(self, run_dir, draw, every: int = 1, writer_dir=None):
        super().__init__()
        self.dir = Path(run_dir) / "samples"
        self.draw = draw  # draw(model) -> uint8 RGB grid
        self.every = every
        self.writer = None
        if writer_dir is not None:
            self.writer = tf.summary.create_file_writer(str(Path(writer_dir) / "samples"))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        grid = self.draw(self.model)
        save_png(self.dir / f"epoch_{epoch + 1:03d}.png", grid)
        save_png(self.dir / "latest.png", grid)
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image("samples", grid[None], step=epoch + 1)
            self.writer.flush()


class GeneratedQuality(keras.callbacks.Callback):
    """Adds evaluation metrics of generated samples to each epoch's logs.

    ``measure(model) -> dict[str, float]`` is run at the end of every epoch
    (e.g. verifier accuracy on train and validation conditions, Chen Fig. 9;
    pose error), so the numbers reach the history, TensorBoard and the
    progress bar.
    """

    def __init__(self, measure):
        super().__init__()
        self.measure = measure

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update({k: float(v) for k, v in self.measure(self.model).items()})
