"""A small SoundFont 2 sampler in numpy: real sampled instruments without a synth library.

The file is parsed with ``sf2utils``; playback follows the SoundFont 2.04
specification closely enough for clean, correctly tuned notes:

* zones are chosen by key and velocity range (preset zones -> instrument zones,
  global zones supplying defaults, preset generators adding to instrument ones);
* pitch: ``ratio = sample_rate / out_rate * 2 ** (cents / 1200)`` with
  ``cents = (key - root) * scaleTuning + coarseTune * 100 + fineTune +
  pitchCorrection (+ any vibrato)``, the root being the zone's
  ``overridingRootKey`` or else the sample's original pitch;
* loops: sample modes 1 and 3 wrap the read position into
  ``[loopStart, loopEnd)`` (sustain loop for notes longer than the sample);
* the DAHDSR volume envelope (timecents, sustain in centibels, decay and
  release as dB ramps of 100 dB per stated time) and ``initialAttenuation``.

Filters, modulation LFOs and effects sends are not rendered.

Example:
    >>> sf = SoundFont()                          # pretty_midi's TimGM6mb.sf2
    >>> x = sf.render_note(0, 40, key=69, velocity=100, duration=0.5)  # violin A4
"""

from __future__ import annotations

import dataclasses
import logging
import os
from functools import lru_cache

import numpy as np

from tfav.errors import AudioError, ConfigError

#: General MIDI (bank, program) per instrument name; bank 128 is percussion.
GM_PROGRAMS = {
    "violin": (0, 40), "viola": (0, 41), "cello": (0, 42), "double_bass": (0, 43),
    "trumpet": (0, 56), "trombone": (0, 57), "tuba": (0, 58), "horn": (0, 60),
    "soprano_sax": (0, 64), "sax": (0, 65), "oboe": (0, 68), "bassoon": (0, 70),
    "clarinet": (0, 71), "flute": (0, 73), "piano": (0, 0), "nylon_guitar": (0, 24),
    "guitar": (0, 25), "drum": (128, 0),
}  # fmt: skip

# Generator numbers (SoundFont 2.04, section 8.1.2).
_START, _END, _LOOP_START, _LOOP_END = 0, 1, 2, 3
_START_COARSE, _END_COARSE, _LOOP_START_COARSE, _LOOP_END_COARSE = 4, 12, 45, 50
_DELAY, _ATTACK, _HOLD, _DECAY, _SUSTAIN, _RELEASE = 33, 34, 35, 36, 37, 38
_KEY_TO_HOLD, _KEY_TO_DECAY = 39, 40
_INSTRUMENT, _KEY_RANGE, _VEL_RANGE, _ATTENUATION = 41, 43, 44, 48
_COARSE_TUNE, _FINE_TUNE, _SAMPLE_ID, _SAMPLE_MODES = 51, 52, 53, 54
_SCALE_TUNING, _ROOT_KEY = 56, 58
_NOT_ADDITIVE = {_INSTRUMENT, _KEY_RANGE, _VEL_RANGE, _SAMPLE_ID, _SAMPLE_MODES, _ROOT_KEY,
                 _START, _END, _LOOP_START, _LOOP_END, _START_COARSE, _END_COARSE,
                 _LOOP_START_COARSE, _LOOP_END_COARSE, 57}  # fmt: skip
_DEFAULTS = {_DELAY: -12000, _ATTACK: -12000, _HOLD: -12000, _DECAY: -12000, _RELEASE: -12000,
             _SCALE_TUNING: 100, _ROOT_KEY: -1}  # fmt: skip
_FLOOR_DB = -100.0  # the envelope's "off" level: decay/release times span 100 dB


def default_soundfont_path() -> str:
    """The General MIDI SoundFont shipped inside the ``pretty_midi`` package."""
    import pretty_midi

    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


@dataclasses.dataclass(frozen=True)
class Zone:
    """One playable zone: a sample with its resolved generators."""

    key_range: tuple[int, int]
    vel_range: tuple[int, int]
    sample_index: int
    start: int  # absolute positions in the sample data chunk
    end: int
    loop_start: int  # relative to ``start``
    loop_end: int
    loop: bool
    sample_rate: int
    root_key: int
    tune_cents: float  # coarse * 100 + fine + pitch correction
    scale_tuning: float  # cents per key
    attenuation_db: float
    delay: float  # seconds
    attack: float
    hold: float
    decay: float
    sustain_db: float  # attenuation of the sustain level, dB >= 0
    release: float
    key_to_hold: float  # timecents per key
    key_to_decay: float
    stereo_part: bool


def _timecents(tc: float) -> float:
    return float(2.0 ** (tc / 1200.0))


def _signed(gen) -> int:
    return int(gen.short)


def _range(gen) -> tuple[int, int]:
    lo, hi = gen.amount & 0xFF, (gen.amount >> 8) & 0xFF
    return (min(lo, hi), max(lo, hi))


def _intersect(a, b):
    return (max(a[0], b[0]), min(a[1], b[1]))


class SoundFont:
    """A parsed SoundFont 2 file whose notes render to float32 numpy arrays.

    Args:
        path: the ``.sf2`` file; ``None`` uses pretty_midi's ``TimGM6mb.sf2``.

    Raises:
        ConfigError: the file does not exist.
        AudioError: the file is not a readable SoundFont 2.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = str(path) if path is not None else default_soundfont_path()
        if not os.path.isfile(self.path):
            raise ConfigError(f"{self.path}: no such SoundFont file")
        try:
            self._parse()
        except (OSError, ValueError, KeyError, IndexError, AttributeError, TypeError) as e:
            raise AudioError(f"{self.path}: not a readable SoundFont 2 file ({e})") from e
        except Exception as e:  # sf2utils raises bare Exceptions on bad RIFF data
            raise AudioError(f"{self.path}: not a readable SoundFont 2 file ({e})") from e
        self._zones: dict[tuple[int, int], list[Zone]] = {}

    def _parse(self) -> None:
        from sf2utils.sf2parse import Sf2File

        # sf2utils logs harmless loop/size warnings for drum and synth samples
        # through the root logger; silence them while parsing.
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            with open(self.path, "rb") as f:
                sf2 = Sf2File(f)
                samples = sf2.samples
                presets = sf2.presets
                self._instruments = sf2.instruments
                smpl_offset = next(
                    (s.smpl_offset for s in samples if getattr(s, "smpl_offset", None)), None
                )
                if smpl_offset is None:
                    raise ValueError("no sample data chunk")
                end = max(s.end for s in samples if s.name != "EOS")
                f.seek(smpl_offset)
                raw = f.read(2 * end)
        finally:
            logging.disable(previous)
        self._data = np.frombuffer(raw, dtype="<i2")
        self._samples = samples
        self._presets = {
            (p.bank, p.preset): p for p in presets if p.name != "EOP" and p.bags is not None
        }

    @property
    def presets(self) -> list[tuple[int, int]]:
        """The (bank, program) pairs the file defines."""
        return sorted(self._presets)

    def zones(self, bank: int, program: int) -> list[Zone]:
        """All zones of a preset, preset and instrument generators resolved."""
        if (bank, program) not in self._zones:
            self._zones[(bank, program)] = self._resolve(bank, program)
        return self._zones[(bank, program)]

    def _resolve(self, bank: int, program: int) -> list[Zone]:
        preset = self._presets.get((bank, program))
        if preset is None:
            raise ConfigError(f"{self.path}: no preset bank {bank} program {program}")
        p_global, zones = {}, []
        for n, pbag in enumerate(preset.bags):
            if _INSTRUMENT not in pbag.gens:
                if n == 0:
                    p_global = dict(pbag.gens)
                continue
            p_gens = {**p_global, **pbag.gens}
            instrument = self._instrument(pbag.gens[_INSTRUMENT].amount)
            i_global = {}
            for m, ibag in enumerate(instrument.bags):
                if _SAMPLE_ID not in ibag.gens:
                    if m == 0:
                        i_global = dict(ibag.gens)
                    continue
                zone = self._zone({**i_global, **ibag.gens}, p_gens)
                if zone is not None:
                    zones.append(zone)
        if not zones:
            raise AudioError(f"{self.path}: preset bank {bank} program {program} has no samples")
        return zones

    def _instrument(self, index: int):
        return self._instruments[index]

    def _zone(self, i_gens: dict, p_gens: dict) -> Zone | None:
        def value(op):
            v = _signed(i_gens[op]) if op in i_gens else _DEFAULTS.get(op, 0)
            if op not in _NOT_ADDITIVE and op in p_gens:
                v += _signed(p_gens[op])
            return v

        sample = self._samples[i_gens[_SAMPLE_ID].amount]
        if sample.name == "EOS" or sample.end - sample.start < 2:
            return None
        keys, vels = (0, 127), (0, 127)
        for gens in (i_gens, p_gens):
            if _KEY_RANGE in gens:
                keys = _intersect(keys, _range(gens[_KEY_RANGE]))
            if _VEL_RANGE in gens:
                vels = _intersect(vels, _range(gens[_VEL_RANGE]))
        if keys[0] > keys[1] or vels[0] > vels[1]:
            return None
        start = sample.start + value(_START) + 32768 * value(_START_COARSE)
        end = sample.end + value(_END) + 32768 * value(_END_COARSE)
        loop_start = sample.start_loop + value(_LOOP_START) + 32768 * value(_LOOP_START_COARSE)
        loop_end = sample.end_loop + value(_LOOP_END) + 32768 * value(_LOOP_END_COARSE)
        loop_start -= start - sample.start
        loop_end -= start - sample.start
        n = end - start
        modes = i_gens[_SAMPLE_MODES].amount & 3 if _SAMPLE_MODES in i_gens else 0
        loop = modes in (1, 3) and 0 <= loop_start < loop_end - 1 and loop_end <= n
        root = value(_ROOT_KEY)
        return Zone(
            key_range=keys,
            vel_range=vels,
            sample_index=i_gens[_SAMPLE_ID].amount,
            start=start,
            end=end,
            loop_start=loop_start,
            loop_end=loop_end,
            loop=loop,
            sample_rate=sample.sample_rate,
            root_key=root if 0 <= root <= 127 else sample.original_pitch,
            tune_cents=100.0 * value(_COARSE_TUNE) + value(_FINE_TUNE) + sample.pitch_correction,
            scale_tuning=float(value(_SCALE_TUNING)),
            attenuation_db=max(0.0, value(_ATTENUATION) / 10.0),
            delay=_timecents(value(_DELAY)),
            attack=_timecents(value(_ATTACK)),
            hold=_timecents(value(_HOLD)),
            decay=_timecents(value(_DECAY)),
            sustain_db=min(144.0, max(0.0, value(_SUSTAIN) / 10.0)),
            release=_timecents(value(_RELEASE)),
            key_to_hold=float(value(_KEY_TO_HOLD)),
            key_to_decay=float(value(_KEY_TO_DECAY)),
            stereo_part=not bool(sample.is_mono),
        )

    def find_zones(self, bank: int, program: int, key: int, velocity: int) -> list[Zone]:
        """The zones that sound for a key and velocity (the nearest key range if none)."""
        zones = self.zones(bank, program)
        def inside(value, rng):
            return rng[0] <= value <= rng[1]

        def distance(value, rng):
            return 0 if inside(value, rng) else min(abs(value - rng[0]), abs(value - rng[1]))

        hit = [z for z in zones if inside(key, z.key_range) and inside(velocity, z.vel_range)]
        if hit:
            return hit
        nearest = min(
            zones, key=lambda z: (distance(key, z.key_range), distance(velocity, z.vel_range))
        )
        return [nearest]

    @lru_cache(maxsize=1024)  # noqa: B019 (one SoundFont per process, kept for its lifetime)
    def _sample_data(self, start: int, end: int) -> np.ndarray:
        x = self._data[start:end].astype(np.float32) / 32768.0
        return np.concatenate([x, np.zeros(2, np.float32)])  # guard for index + 1

    def render_note(
        self,
        bank: int,
        program: int,
        key: int,
        velocity: int,
        duration: float,
        sample_rate: int = 44100,
        cents: np.ndarray | None = None,
        max_release: float = 1.5,
    ) -> np.ndarray:
        """Render one note: ``duration`` seconds held, then its release tail.

        Args:
            bank, program: the preset (e.g. 0, 40 = violin; 128, 0 = drum kit).
            key: MIDI key 0..127.
            velocity: MIDI velocity 1..127 (zone choice and a ``(v/127)^2`` gain).
            duration: seconds from note-on to note-off.
            sample_rate: output rate.
            cents: optional pitch offset per output sample (vibrato, bends);
                shorter arrays hold their last value.
            max_release: cap on the release tail in seconds.

        Returns:
            float32 ``[samples]``: the held part plus the release tail.
        """
        n_on = max(1, int(round(duration * sample_rate)))
        out = None
        for z in self.find_zones(bank, program, key, velocity):
            x = self._render_zone(z, key, n_on, sample_rate, cents, max_release)
            if z.stereo_part:
                x *= 0.5
            if out is None:
                out = x
            else:
                if len(x) > len(out):
                    x, out = out, x
                out[: len(x)] += x
        return out * np.float32((velocity / 127.0) ** 2)

    def _render_zone(self, z: Zone, key, n_on, sr, cents, max_release) -> np.ndarray:
        hold = z.hold * _timecents(z.key_to_hold * (60 - key))
        decay = z.decay * _timecents(z.key_to_decay * (60 - key))
        env = _envelope(n_on, sr, z.delay, z.attack, hold, decay, z.sustain_db)
        level_db = 20 * np.log10(max(float(env[-1]), 1e-5))
        tail = min(max_release, z.release * max(0.0, (level_db - _FLOOR_DB)) / -_FLOOR_DB)
        n_tail = int(np.ceil(tail * sr))
        n = n_on + n_tail
        if n_tail:
            # Release: a dB ramp of 100 dB per `release` seconds from the note-off level.
            step = 10 ** (_FLOOR_DB / max(z.release, 1e-4) / sr / 20)
            rel = float(env[-1]) * step ** np.arange(1, n_tail + 1, dtype=np.float32)
            env = np.concatenate([env, rel.astype(np.float32)])
        base = (key - z.root_key) * z.scale_tuning + z.tune_cents
        ratio = z.sample_rate / sr * 2.0 ** (base / 1200.0)
        if cents is not None and len(cents):
            c = np.asarray(cents, dtype=np.float64)[:n]
            if len(c) < n:
                c = np.concatenate([c, np.full(n - len(c), c[-1])])
            step = np.exp2(c.astype(np.float32) * np.float32(1 / 1200.0)) * np.float32(ratio)
            pos = np.cumsum(step, dtype=np.float64)  # float64: long notes must not drift
            pos -= step[0]
        else:
            pos = np.arange(n, dtype=np.float64) * ratio
        data = self._sample_data(z.start, z.end)
        length = z.end - z.start
        if z.loop:
            span = z.loop_end - z.loop_start
            first = int(np.searchsorted(pos, z.loop_end))  # pos is increasing
            q = pos[first:]  # a view: wrapped in place (floor is much faster than np.mod)
            q -= z.loop_start
            q -= span * np.floor(q * (1.0 / span))
            q += z.loop_start
            i = pos.astype(np.intp)
            j = i + 1
            np.putmask(j, j >= z.loop_end, z.loop_start)
        else:
            last = int(np.searchsorted(pos, length - 1))
            env[last:] = 0.0
            pos[last:] = 0.0
            i = pos.astype(np.intp)
            j = i + 1
        f = (pos - i).astype(np.float32)
        a = data[i]
        x = a + (data[j] - a) * f
        x *= env
        x *= np.float32(10 ** (-z.attenuation_db / 20))
        return x


def _envelope(n, sr, delay, attack, hold, decay, sustain_db) -> np.ndarray:
    """The SoundFont volume envelope up to note-off, float32 ``[n]`` (SF2 sec. 8.1.3).

    Delay, then attack rising linearly in amplitude, hold at full level, and
    decay falling linearly in dB at 100 dB per ``decay`` seconds down to the
    sustain level ``-sustain_db``.
    """
    env = np.empty(n, np.float32)
    bounds = np.minimum(np.round(np.cumsum([delay, attack, hold]) * sr).astype(int), n)
    env[: bounds[0]] = 0.0
    na = bounds[1] - bounds[0]
    env[bounds[0] : bounds[1]] = (np.arange(1, na + 1, dtype=np.float32) / max(na, 1))
    env[bounds[1] : bounds[2]] = 1.0
    n_decay = min(n - bounds[2], int(np.ceil(decay * sustain_db / -_FLOOR_DB * sr)))
    if n_decay > 0:
        step = 10 ** (_FLOOR_DB / max(decay, 1e-6) / sr / 20)
        env[bounds[2] : bounds[2] + n_decay] = step ** np.arange(n_decay, dtype=np.float32)
    env[bounds[2] + max(n_decay, 0) :] = 10 ** (-sustain_db / 20)
    return env
