"""Performances for the embedded dataset: scores, their audio and their ground truth.

A :class:`Performance` is one recording of one player: a melodic line inside
the instrument's playable range with phrases, varied rhythm, dynamics
(velocity per note and a slow expression curve), legato or detached
articulation, vibrato where the instrument has it, short rests, a room (a
short exponentially decaying noise impulse response, or none) and a noise
floor. :meth:`Performance.render` plays it through a :class:`SoundFont`;
:meth:`Performance.ground_truth` gives the state of the performer at any instant:
the sounding MIDI pitch, the pose ``(hand, bow, dynamics)`` and the bow direction.

Pose conventions (shared with :mod:`tfav.data.synth.performer`):

* ``hand = (midi - low) / (high - low)`` of the last pitch played (kept during rests);
* ``bow``: bowed strings only, position along the stroke (0 frog, 1 tip); each
  note is a new stroke in the opposite direction, and the bow also turns when it
  reaches either end; other instruments 0.5;
* ``dynamics``: ``1 + (40 log10(velocity / 127) + 20 log10(expression)) / 36``
  clipped to [0, 1] while a note sounds, 0 during rests.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.signal

from tfav.audio import SAMPLE_RATE


@dataclasses.dataclass(frozen=True)
class InstrumentSpec:
    """How an instrument is played: GM preset(s), sounding range, technique."""

    name: str
    bank: int
    programs: tuple[int, ...]
    low: int  # lowest sounding MIDI pitch
    high: int
    bowed: bool = False
    vibrato_cents: float = 0.0  # typical vibrato depth; 0 = none
    kind: str = "sustained"  # "sustained" (bowed/blown), "struck" (piano, guitar) or "drums"


def _spec(name, program, low, high, vibrato=0.0, bowed=False, bank=0, kind="sustained"):
    programs = program if isinstance(program, tuple) else (program,)
    return InstrumentSpec(name, bank, programs, low, high, bowed, vibrato, kind)


#: Playable (sounding) ranges of real instruments; GM programs of General MIDI.
SPECS = {
    s.name: s
    for s in (
        _spec("bassoon", 70, 34, 75, vibrato=10),  # Bb1-Eb5
        _spec("cello", 42, 36, 81, vibrato=22, bowed=True),  # C2-A5
        _spec("clarinet", 71, 50, 94),  # D3-Bb6 (sounding, Bb clarinet)
        _spec("double_bass", 43, 28, 55, vibrato=18, bowed=True),  # E1-G3
        _spec("flute", 73, 60, 96, vibrato=18),  # C4-C7
        _spec("horn", 60, 41, 77, vibrato=4),  # F2-F5
        _spec("oboe", 68, 58, 91, vibrato=14),  # Bb3-G6
        _spec("sax", 65, 49, 80, vibrato=20),  # alto: Db3-Ab5
        _spec("trombone", 57, 40, 72, vibrato=4),  # E2-C5
        _spec("trumpet", 56, 54, 84, vibrato=6),  # F#3-C6
        _spec("tuba", 58, 26, 65),  # D1-F4
        _spec("viola", 41, 48, 88, vibrato=22, bowed=True),  # C3-E6
        _spec("violin", 40, 55, 93, vibrato=24, bowed=True),  # G3-A6
        _spec("saxophone", (64, 65), 56, 80, vibrato=20),  # soprano/alto, common range
        _spec("piano", 0, 36, 96, kind="struck"),  # C2-C7 (most melodies)
        _spec("guitar", (24, 25), 40, 83, kind="struck"),  # E2-B5, nylon/steel
        _spec("drum", 0, 35, 59, bank=128, kind="drums"),  # GM percussion keys
    )
}

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_BEATS = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
_BEAT_P = np.array([0.10, 0.30, 0.08, 0.27, 0.10, 0.12, 0.03])
# Kick, snare, closed/open hi-hat, toms, crash, ride: the keys drum patterns use.
_DRUM_KEYS = np.array([36, 38, 42, 46, 45, 48, 50, 49, 51, 35, 40, 44])
_DRUM_P = np.array([0.2, 0.17, 0.22, 0.05, 0.05, 0.05, 0.04, 0.03, 0.08, 0.04, 0.04, 0.03])


@dataclasses.dataclass
class Performance:
    """One recording: notes, expression, vibrato, room and noise; rendered on demand.

    Attributes:
        spec: the instrument.
        program: the GM program used (one of ``spec.programs``).
        onsets, durations: note-on times and held lengths (s), sorted by onset.
        keys, velocities: MIDI pitch and velocity per note.
        vibrato: per-note (depth cents, rate Hz, delay s).
        expression_times, expression_values: the slow gain curve (0.5..1).
        bow_start, bow_dir, bow_speed: per-note stroke start position, direction
            (+1 towards the tip) and speed (bow lengths per second).
        room: ``(rt60 seconds, wet mix)`` or ``None`` for a dry room.
        noise_dbfs: RMS of the noise floor; peak_dbfs: the recording's peak.
        duration: length of the recording (s).
    """

    spec: InstrumentSpec
    program: int
    onsets: np.ndarray
    durations: np.ndarray
    keys: np.ndarray
    velocities: np.ndarray
    vibrato: np.ndarray
    expression_times: np.ndarray
    expression_values: np.ndarray
    bow_start: np.ndarray
    bow_dir: np.ndarray
    bow_speed: np.ndarray
    room: tuple[float, float] | None
    noise_dbfs: float
    peak_dbfs: float
    duration: float
    seed: int

    # ------------------------------------------------------------------ audio

    def render(self, soundfont, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """The recording as float32 mono ``[round(duration * sample_rate)]`` in [-1, 1]."""
        n = int(round(self.duration * sample_rate))
        out = np.zeros(n + 2 * sample_rate, np.float32)
        rng = np.random.default_rng([self.seed, 1])
        for on, dur, key, vel, (depth, rate, delay) in zip(
            self.onsets, self.durations, self.keys, self.velocities, self.vibrato, strict=True
        ):
            cents = None
            if depth > 0 and dur > delay:
                # Vibrato at a control rate of 32 samples (0.7 ms): smooth to the ear, cheap.
                t = np.arange(0, dur + 0.5, 32 / sample_rate, dtype=np.float32)
                ramp = np.clip((t - delay) / 0.25, 0.0, 1.0)
                phase = np.float32(rng.uniform(0, 2 * np.pi))
                cents = np.repeat(depth * ramp * np.sin(2 * np.pi * rate * t + phase), 32)
            x = soundfont.render_note(
                self.spec.bank, self.program, int(key), int(vel), float(dur), sample_rate, cents
            )
            i = int(round(on * sample_rate))
            m = min(len(x), len(out) - i)
            out[i : i + m] += x[:m]
        out = out[:n]
        if self.spec.kind == "sustained":
            # The expression curve is slow: evaluate it every 64 samples.
            t = np.arange(0, n + 64, 64, dtype=np.float64) / sample_rate
            curve = np.interp(t, self.expression_times, self.expression_values)
            out *= np.repeat(curve.astype(np.float32), 64)[:n]
        if self.room is not None:
            rt60, wet = self.room
            m = int(min(rt60, 0.8) * sample_rate)
            ir = rng.standard_normal(m).astype(np.float32)
            ir *= np.exp(-6.91 * np.arange(m, dtype=np.float32) / (rt60 * sample_rate))
            ir /= np.sqrt(np.sum(ir**2))
            out += np.float32(wet) * scipy.signal.oaconvolve(out, ir)[:n].astype(np.float32)
        peak = max(float(out.max()), -float(out.min())) or 1.0
        out *= np.float32(10 ** (self.peak_dbfs / 20) / peak)
        noise = rng.standard_normal(n, dtype=np.float32)
        noise[1:] += noise[:-1]  # a gentle low-pass: hiss with less top end than white noise
        out += noise * np.float32(10 ** (self.noise_dbfs / 20) / np.sqrt(2.0))
        return np.clip(out, -1.0, 1.0, out=out)

    # ------------------------------------------------------------ ground truth

    def ground_truth(self, t: float) -> dict:
        """The performer's state at time ``t`` (s): what the image at ``t`` shows.

        Returns:
            ``{"midi": int (-1 in a rest), "pose": [hand, bow, dynamics],
            "bow_direction": +1 (towards the tip), -1 or 0 (not bowing),
            "velocity": int (0 in a rest)}``.
        """
        spec = self.spec
        started = int(np.searchsorted(self.onsets, t, side="right")) - 1
        last = max(started, 0)
        sounding = started >= 0 and t < self.onsets[started] + self.durations[started]
        hand = (int(self.keys[last]) - spec.low) / (spec.high - spec.low)
        bow, direction = 0.5, 0
        if spec.bowed:
            if started < 0:
                bow = float(self.bow_start[0])
            else:
                end = self._stroke_end(started)
                bow, direction = _bow_at(
                    self.bow_start[started], self.bow_dir[started], self.bow_speed[started],
                    min(t, end) - self.onsets[started],
                )  # fmt: skip
                if not sounding:
                    direction = 0
        dynamics, velocity, midi = 0.0, 0, -1
        if sounding:
            midi, velocity = int(self.keys[started]), int(self.velocities[started])
            expression = 1.0
            if spec.kind == "sustained":
                expression = float(np.interp(t, self.expression_times, self.expression_values))
            level_db = 40 * np.log10(velocity / 127) + 20 * np.log10(expression)
            dynamics = float(np.clip(1 + level_db / 36, 0.0, 1.0))
        pose = [float(np.clip(hand, 0, 1)), float(bow), dynamics]
        return {"midi": midi, "pose": pose, "bow_direction": direction, "velocity": velocity}

    def _stroke_end(self, i: int) -> float:
        end = self.onsets[i] + self.durations[i]
        if i + 1 < len(self.onsets):
            end = min(end, self.onsets[i + 1])
        return float(end)


def _bow_at(start, direction, speed, dt):
    """Bow position and direction after ``dt`` s of a stroke, turning at both ends."""
    u = start + direction * speed * max(dt, 0.0)
    y = float(np.mod(u, 2.0))
    # The position is a triangle wave of the unfolded travel u; its slope flips the direction.
    if y <= 1.0:
        return y, int(direction)
    return 2.0 - y, -int(direction)


def random_performance(
    instrument: str,
    duration: float,
    seed: int,
    program: int | None = None,
    player_seed: int | None = None,
) -> Performance:
    """Compose a performance of ``duration`` seconds for ``instrument``.

    Args:
        instrument: a key of :data:`SPECS`.
        duration: length in seconds (the last note may be cut by the end).
        seed: everything (score, room, noise) follows from it.
        program: the GM program; by default one of the instrument's programs.
        player_seed: the player's habits (vibrato rate and width, preferred
            tempo, dynamic range) follow from it, so that one player's
            recordings sound alike; by default they follow from ``seed``.
    """
    spec = SPECS[instrument]
    rng = np.random.default_rng([seed, 0])
    habits = np.random.default_rng([seed if player_seed is None else player_seed, 3])
    vib_rate, vib_width = habits.uniform(4.5, 6.5), habits.uniform(0.7, 1.3)
    tempo_centre = habits.uniform(70, 115)
    soft, loud = habits.uniform(0.1, 0.35), habits.uniform(0.8, 1.0)
    if program is None:
        program = int(rng.choice(spec.programs))
    tempo = tempo_centre * rng.uniform(0.8, 1.2)  # beats per minute
    beat = 60.0 / tempo
    span = spec.high - spec.low
    onsets, durs, keys, vels = [], [], [], []
    t = float(rng.uniform(0.0, 0.3))
    key = spec.low + rng.integers(span // 4, 3 * span // 4 + 1)
    tonic = int(rng.integers(0, 12))
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    pitches = np.array([p for p in range(spec.low, spec.high + 1) if (p - tonic) % 12 in scale])
    idx = int(np.argmin(np.abs(pitches - key)))
    while t < duration:
        # One phrase: a register, a dynamic level with a hairpin, an articulation.
        if rng.random() < 0.35:
            idx = int(rng.integers(0, len(pitches)))
        level = rng.uniform(soft, loud)
        hairpin = rng.uniform(-0.35, 0.35)
        legato = spec.kind == "sustained" and rng.random() < 0.6
        n_notes = int(rng.integers(4, 13))
        for k in range(n_notes):
            if spec.kind == "drums":
                key = int(rng.choice(_DRUM_KEYS, p=_DRUM_P))
                ioi = beat * float(rng.choice([0.25, 0.5, 0.5, 1.0]))
            else:
                step = int(rng.choice([-4, -3, -2, -1, -1, 0, 1, 1, 2, 3, 4]))
                idx = int(np.clip(idx + step, 0, len(pitches) - 1))
                key = int(pitches[idx])
                ioi = beat * float(rng.choice(_BEATS, p=_BEAT_P))
                if k == n_notes - 1:
                    ioi *= 2  # phrase endings are long
            ioi = max(ioi, 0.12)
            lv = np.clip(level + hairpin * k / n_notes + rng.normal(0, 0.05), 0.05, 1.0)
            accent = 8 if abs((t / beat) % 1.0) < 0.05 else 0
            vels.append(int(np.clip(28 + 95 * lv + accent, 20, 127)))
            if legato:
                dur = ioi + 0.03
            elif spec.kind == "sustained":
                dur = ioi * rng.uniform(0.55, 0.92)
            elif spec.kind == "struck":
                dur = ioi * rng.uniform(0.8, 1.3)
            else:
                dur = min(ioi, 1.0)  # a drum "sounds" until the next hit
            onsets.append(t)
            durs.append(dur)
            keys.append(key)
            t += ioi
        if rng.random() < 0.45:  # a breath or a rest between phrases
            t += float(rng.choice([rng.uniform(0.1, 0.5), rng.uniform(0.5, 1.6)], p=[0.7, 0.3]))
    onsets, durs = np.array(onsets), np.array(durs)
    keep = onsets < duration
    onsets, durs = onsets[keep], np.minimum(durs[keep], duration - onsets[keep] + 0.5)
    keys, vels = np.array(keys)[keep], np.array(vels)[keep]
    n = len(onsets)

    rate = vib_rate * rng.uniform(0.95, 1.05)
    depth = spec.vibrato_cents * vib_width * rng.uniform(0.7, 1.2, size=n) * (rng.random(n) < 0.85)
    vibrato = np.stack([depth, np.full(n, rate), rng.uniform(0.08, 0.3, size=n)], axis=1)

    exp_times = np.arange(0.0, duration + 4.0, rng.uniform(1.5, 4.0))
    exp_values = rng.uniform(0.5, 1.0, size=len(exp_times))

    bow_start, bow_dir, bow_speed = np.zeros(n), np.zeros(n, int), np.zeros(n)
    if spec.bowed and n:
        pos, direction = float(rng.uniform(0.1, 0.9)), 1 if rng.random() < 0.5 else -1
        for i in range(n):
            bow_start[i], bow_dir[i] = pos, direction
            stroke = rng.uniform(0.3, 0.9) * (0.6 + 0.4 * (vels[i] / 127))
            bow_speed[i] = stroke / max(durs[i], 0.15)
            end = min(durs[i], onsets[i + 1] - onsets[i]) if i + 1 < n else durs[i]
            pos, d_end = _bow_at(pos, direction, bow_speed[i], end)
            direction = -d_end  # a new note is a new stroke the other way

    room = None if rng.random() < 0.25 else (rng.uniform(0.2, 1.2), rng.uniform(0.1, 0.4))
    return Performance(
        spec=spec, program=program, onsets=onsets, durations=durs, keys=keys, velocities=vels,
        vibrato=vibrato, expression_times=exp_times, expression_values=exp_values,
        bow_start=bow_start, bow_dir=bow_dir, bow_speed=bow_speed, room=room,
        noise_dbfs=rng.uniform(-72.0, -58.0), peak_dbfs=rng.uniform(-6.0, -1.0),
        duration=float(duration), seed=int(seed),
    )  # fmt: skip
