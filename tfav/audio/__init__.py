"""Audio: loading (numpy) and in-graph features (TensorFlow).

Loading turns any WAV/FLAC/OGG file into the project's audio convention:
44,100 Hz mono float32 in [-1, 1], cut into 0.5 s chunks of 22,050 samples
(Chen et al. 2017, section 4).

Everything after loading runs as TensorFlow ops so that the same code serves
``tf.data``, Keras models, SavedModels and TFLite.

* :mod:`tfav.audio.io`: file I/O, resampling, chunking, loudness (numpy);
* :mod:`tfav.audio.features`: STFT, (log-)mel, MFCC, Kaldi fbank and
  spectrogram, CQT, the :class:`LogMelSpectrogram` layer (TensorFlow);
* :mod:`tfav.audio.inversion`: Griffin-Lim from a log-mel spectrogram, in
  complex TensorFlow ops and in TFLite builtins, and the inverse STFT the
  neural vocoder (:mod:`tfav.models.vocoder`) ends with.

The public names of all three are importable from ``tfav.audio``.
"""

from tfav.audio.features import (
    LogMelSpectrogram,
    cqt,
    denormalize_log_mel,
    fbank,
    kaldi_mel_banks,
    log_mel_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    mfcc,
    normalize_log_mel,
    power_to_db,
    spectrogram,
    stft_magnitude,
)
from tfav.audio.inversion import (
    GRIFFIN_LIM_ITERATIONS,
    griffin_lim,
    griffin_lim_from_log_mel,
    inverse_stft,
)
from tfav.audio.io import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    SILENCE_DBFS,
    chunk_audio,
    chunks_at,
    is_silent,
    load_audio,
    loudness_dbfs,
    resample,
    resampled_length,
    wav_bytes,
)

__all__ = [
    "CHUNK_SAMPLES", "GRIFFIN_LIM_ITERATIONS", "SAMPLE_RATE", "SILENCE_DBFS",
    "LogMelSpectrogram", "chunk_audio", "chunks_at", "cqt", "denormalize_log_mel", "fbank",
    "griffin_lim", "griffin_lim_from_log_mel", "inverse_stft", "is_silent", "kaldi_mel_banks",
    "load_audio",
    "log_mel_spectrogram", "loudness_dbfs", "mel_filterbank", "mel_spectrogram", "mfcc",
    "normalize_log_mel", "power_to_db", "resample", "resampled_length", "spectrogram", "wav_bytes",
    "stft_magnitude",
]  # fmt: skip
