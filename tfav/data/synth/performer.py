"""Procedural performer images for the embedded dataset (the image half of a pair).

Chen et al. 2017 (sec. 4) build Sub-URMP from the first video frame of each
0.5 s chunk: one musician, seated (standing for the double bass), playing one
instrument in a room. :func:`draw_performer` draws such a frame from a pose
vector ``(hand, bow, dynamics)`` in [0, 1] so that the frame follows the sound:

* ``hand``: left hand along the fingerboard (0 = near the scroll / nut, 1 = high
  up the neck), trombone slide (0 = long extension), wind hand along the keys,
  piano hands along the keyboard;
* ``bow``: bowed strings only, the bow hand along the stroke (0 = frog at the
  string, 1 = tip at the string); the bow is drawn as a line through the strings;
* ``dynamics``: the upper body leans and held instruments are raised.

Players (skin, clothes, hair, build) and scenes (room, lighting, camera) vary
like URMP recordings. Shapes are drawn with Pillow at 4x the output size and
box-downsampled, which anti-aliases them.

Coordinates are metres in the player's frame: x to the viewer's right (the
player's left), y up, origin on the floor under the player's centre.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4

SUB_URMP = (
    "bassoon", "cello", "clarinet", "double_bass", "flute", "horn", "oboe",
    "sax", "trombone", "trumpet", "tuba", "viola", "violin",
)  # fmt: skip
INIS_EXTRA = ("drum", "piano", "guitar", "saxophone")
INSTRUMENTS = SUB_URMP + INIS_EXTRA
BOWED = ("cello", "double_bass", "viola", "violin")
STANDING = ("double_bass",)

_SKIN = ((255, 219, 180), (241, 194, 150), (224, 172, 125), (198, 134, 86), (141, 85, 54),
         (96, 60, 40), (234, 192, 160))  # fmt: skip
_HAIR = ((20, 16, 14), (60, 38, 24), (110, 70, 38), (200, 160, 90), (150, 60, 30),
         (170, 170, 170), (35, 28, 26))  # fmt: skip
_HAIR_STYLES = ("short", "long", "bun", "bald", "curly")
_WOOD = {
    "violin": (178, 84, 28), "viola": (140, 62, 22), "cello": (160, 74, 26),
    "double_bass": (120, 58, 24), "guitar": (214, 160, 92), "bassoon": (122, 44, 24),
}  # fmt: skip
_BRASS = (222, 176, 52)
_BRASS_DARK = (150, 108, 24)
_SILVER = (214, 218, 224)
_BLACK = (22, 22, 24)
_BOW_HAIR = (246, 240, 220)
_BOW_STICK = (70, 40, 20)


@dataclasses.dataclass(frozen=True)
class Player:
    """One musician: appearance, constant over all of the player's recordings."""

    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: str
    size: float  # overall body scale (about 0.93-1.07)
    build: float  # torso and limb girth (about 0.85-1.2)
    standing: bool


@dataclasses.dataclass(frozen=True)
class Scene:
    """One recording: room, chair, lighting and camera."""

    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    horizon: float  # wall/floor boundary, fraction of the image height
    panel: tuple[float, float, float, float] | None  # a door/window on the wall (x0, y0, x1, y1)
    panel_color: tuple[int, int, int]
    chair: tuple[int, int, int]
    brightness: float
    cast: tuple[float, float, float]
    dx: float  # camera offset, fraction of the image width
    dy: float
    zoom: float


def _muted(rng, lo=60, hi=220, sat=0.35):
    base = rng.uniform(lo, hi)
    tint = rng.uniform(-1, 1, 3) * sat * base
    return tuple(int(v) for v in np.clip(base + tint, 0, 255))


def random_player(instrument: str, rng: np.random.Generator) -> Player:
    """A random musician for ``instrument`` (deterministic given ``rng``)."""
    _check(instrument)
    shirt = tuple(int(v) for v in rng.integers(60, 240, 3))
    pants = _muted(rng, 15, 110, 0.3)
    return Player(
        skin=_SKIN[int(rng.integers(len(_SKIN)))],
        shirt=shirt,
        pants=pants,
        hair=_HAIR[int(rng.integers(len(_HAIR)))],
        hair_style=_HAIR_STYLES[int(rng.integers(len(_HAIR_STYLES)))],
        size=float(rng.uniform(0.93, 1.07)),
        build=float(rng.uniform(0.85, 1.2)),
        standing=instrument in STANDING,
    )


def random_scene(rng: np.random.Generator) -> Scene:
    """A random recording room, lighting and camera (deterministic given ``rng``)."""
    wall = _muted(rng, 120, 235, 0.25)
    floor = _muted(rng, 50, 170, 0.35)
    panel = None
    if rng.random() < 0.6:
        x0 = float(rng.uniform(0.0, 0.75))
        panel = (x0, float(rng.uniform(0.05, 0.3)), x0 + float(rng.uniform(0.12, 0.3)),
                 float(rng.uniform(0.5, 0.7)))  # fmt: skip
    return Scene(
        wall=wall,
        floor=floor,
        horizon=float(rng.uniform(0.62, 0.8)),
        panel=panel,
        panel_color=_muted(rng, 80, 240, 0.3),
        chair=_muted(rng, 20, 120, 0.4),
        brightness=float(rng.uniform(0.8, 1.15)),
        cast=tuple(float(v) for v in rng.uniform(0.9, 1.1, 3)),
        dx=float(rng.uniform(-0.03, 0.03)),
        dy=float(rng.uniform(-0.02, 0.02)),
        zoom=float(rng.uniform(0.95, 1.05)),
    )


def _check(instrument):
    if instrument not in INSTRUMENTS:
        raise ValueError(f"unknown instrument '{instrument}' (known: {', '.join(INSTRUMENTS)})")


# ---------------------------------------------------------------- geometry


def _unit(deg):
    r = math.radians(deg)
    return np.array([math.cos(r), math.sin(r)])


def _rot(p, center, deg):
    """Rotate point(s) ``p`` counter-clockwise by ``deg`` about ``center``."""
    if deg == 0:
        return np.array(p, float)
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    p = np.asarray(p, float)
    if p.ndim == 1:
        x, y = float(p[0]) - float(center[0]), float(p[1]) - float(center[1])
        return np.array([center[0] + c * x - s * y, center[1] + s * x + c * y])
    return (p - center) @ np.array([[c, s], [-s, c]]) + center


_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 20, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 20, endpoint=False))], 1)  # fmt: skip


def _ellipse(center, rx, ry, deg=0.0):
    pts = _CIRCLE * [rx, ry]
    return _rot(pts, np.zeros(2), deg) + center


def _bar(a, b, w0, w1=None):
    """Quadrilateral from a to b, width w0 at a and w1 at b."""
    ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
    w1 = w0 if w1 is None else w1
    length = math.hypot(bx - ax, by - ay) + 1e-9
    nx, ny = -(by - ay) / length / 2, (bx - ax) / length / 2
    return np.array([[ax + nx * w0, ay + ny * w0], [bx + nx * w1, by + ny * w1],
                     [bx - nx * w1, by - ny * w1], [ax - nx * w0, ay - ny * w0]])  # fmt: skip


def _figure_eight(center, axis_deg, length, width, waist=0.62):
    """A violin-family body outline: lower bout, waist, upper bout."""
    t = np.linspace(-0.5, 0.5, 12)
    half = (
        width
        / 2
        * (0.78 + 0.22 * np.cos(np.pi * t * 2.2))
        * (1 - (1 - waist) * np.exp(-((t - 0.05) ** 2) / 0.012))
        * np.sqrt(np.clip(1 - (2 * t) ** 4, 0, 1))
    )
    half *= np.where(t < 0, 1.0, 0.85)  # upper bout narrower than lower bout
    along = t * length
    pts = np.concatenate([np.stack([along, half], 1), np.stack([along[::-1], -half[::-1]], 1)])
    return _rot(pts, np.zeros(2), axis_deg) + center


def _arm(shoulder, hand, upper, fore, bend):
    """Elbow position for a two-segment arm; ``bend`` = +1/-1 picks the side."""
    s, h = np.asarray(shoulder, float), np.asarray(hand, float)
    d = h - s
    dist = float(np.hypot(*d))
    if dist >= upper + fore - 1e-6 or dist < 1e-6:
        return s + d * upper / (upper + fore)
    a = (upper**2 - fore**2 + dist**2) / (2 * dist)
    k = math.sqrt(max(upper**2 - a**2, 0.0))
    u = d / dist
    return s + u * a + bend * k * np.array([-u[1], u[0]])


# ---------------------------------------------------------------- canvas


class _Canvas:
    def __init__(self, size, scene, player):
        self.n = size * SUPERSAMPLE
        self.img = Image.new("RGB", (self.n, self.n), scene.wall)
        self.d = ImageDraw.Draw(self.img)
        per_metre = (0.5 if player.standing else 0.6) * scene.zoom * player.size
        self.s = per_metre * self.n
        self.ox = (0.5 + scene.dx) * self.n
        self.oy = (0.975 + scene.dy) * self.n

    def px(self, pts):
        ox, oy, s = self.ox, self.oy, self.s
        if isinstance(pts, np.ndarray) and pts.ndim == 2:
            xs = (ox + s * pts[:, 0]).tolist()
            ys = (oy - s * pts[:, 1]).tolist()
            return list(zip(xs, ys, strict=True))
        # Short point lists: plain floats beat numpy's per-call overhead.
        return [(ox + s * float(p[0]), oy - s * float(p[1])) for p in pts]

    def poly(self, pts, fill):
        self.d.polygon(self.px(pts), fill=fill)

    def line(self, pts, fill, width):
        joint = "curve" if len(pts) > 2 else None
        self.d.line(self.px(pts), fill=fill, width=max(1, round(width * self.s)), joint=joint)

    def dot(self, center, r, fill):
        x, y = self.px([center])[0]
        rr = r * self.s
        self.d.ellipse((x - rr, y - rr, x + rr, y + rr), fill=fill)

    def ring(self, center, r, fill, width):
        x, y = self.px([center])[0]
        rr = r * self.s
        self.d.ellipse((x - rr, y - rr, x + rr, y + rr), outline=fill,
                       width=max(1, round(width * self.s)))  # fmt: skip


def _shade(c, f):
    return tuple(int(min(255, max(0, v * f))) for v in c)


# ---------------------------------------------------------------- body


class _Body:
    """Landmarks of a player; the upper body rotates about the hip with ``lean``."""

    def __init__(self, player, lean_deg):
        b = player.build
        self.p = player
        self.hip = np.array([0.0, 0.95 if player.standing else 0.48])
        top = self.hip[1] + 0.52
        self.lean = lean_deg  # positive = counter-clockwise: towards the viewer's left
        self.shoulder_l = self.u([0.17 * b, top - 0.04])
        self.shoulder_r = self.u([-0.17 * b, top - 0.04])
        self.neck = self.u([0.0, top])
        self.head = self.u([0.0, top + 0.15])
        self.mouth = self.u([0.0, top + 0.1])
        self.chin = self.u([0.06, top + 0.05])
        self.upper_arm, self.forearm = 0.3, 0.3

    def u(self, p):
        return _rot(np.asarray(p, float), self.hip, self.lean)

    def draw_legs(self, cv):
        p, b = self.p, self.p.build
        if p.standing:
            for sx in (-1, 1):
                cv.line([[sx * 0.08 * b, 0.95], [sx * 0.12, 0.04]], p.pants, 0.13 * b)
                cv.poly(_ellipse([sx * 0.13, 0.03], 0.07, 0.035), (30, 26, 24))
        else:
            for sx in (-1, 1):
                cv.poly(_bar([sx * 0.1 * b, 0.5], [sx * 0.15, 0.44], 0.17 * b), p.pants)
                cv.line([[sx * 0.15, 0.45], [sx * 0.17, 0.04]], p.pants, 0.12 * b)
                cv.poly(_ellipse([sx * 0.18, 0.03], 0.07, 0.035), (30, 26, 24))

    def draw_torso(self, cv):
        p, b = self.p, self.p.build
        h = self.hip
        upper = ([0.2 * b, h[1] + 0.44], [0.07, h[1] + 0.52], [-0.07, h[1] + 0.52],
                 [-0.2 * b, h[1] + 0.44])  # fmt: skip
        torso = [h + [-0.15 * b, 0], h + [0.15 * b, 0]] + [self.u(q) for q in upper]
        cv.poly(torso, p.shirt)
        cv.line([self.neck, self.head], p.skin, 0.07)
        style, hair = p.hair_style, p.hair
        hy = self.hip[1] + 0.52 + 0.15  # head centre before the lean
        if style == "long":
            cv.poly(_bar(self.u([0, hy + 0.07]), self.u([0, hy - 0.15]), 0.2, 0.24), hair)
        if style == "bun":
            cv.dot(self.u([0, hy + 0.13]), 0.05, hair)
        cv.poly(_ellipse(self.head, 0.085, 0.105, self.lean), p.skin)
        if style == "curly":
            cv.poly(_ellipse(self.u([0, hy + 0.06]), 0.115, 0.075, self.lean), hair)
        elif style == "bald":
            cv.poly(_ellipse(self.u([0, hy + 0.09]), 0.06, 0.025, self.lean), hair)
        else:
            cv.poly(_ellipse(self.u([0, hy + 0.055]), 0.09, 0.06, self.lean), hair)

    def draw_arm(self, cv, shoulder, hand):
        hand = np.asarray(hand, float)
        # Of the two elbow solutions, the lower one is the natural one.
        elbow = min(
            (_arm(shoulder, hand, self.upper_arm, self.forearm, bend) for bend in (1, -1)),
            key=lambda e: e[1],
        )
        # Sleeves a shade darker than the shirt, so an arm in front of the body shows.
        cv.line([shoulder, elbow, hand], _shade(self.p.shirt, 0.78), 0.085 * self.p.build)
        cv.line([elbow * 0.35 + hand * 0.65, hand], self.p.skin, 0.06)
        cv.dot(hand, 0.05, self.p.skin)


# ---------------------------------------------------------------- instruments


def _bowed(cv, body, inst, hand, bow, dyn):
    wood = _WOOD[inst]
    if inst in ("violin", "viola"):
        k = 1.0 if inst == "violin" else 1.16
        length, width = 0.36 * k, 0.21 * k
        ang = -22 + 14 * dyn  # raised when loud
        v = _unit(ang)
        base = body.chin + [0.02, -0.04]  # lower end of the body under the chin
        centre = base + v * length / 2
        neck_end = base + v * (length + 0.27 * k)
        pts = {"body": _figure_eight(centre, ang, length, width)}
        contact = base + v * length * 0.3
        stroke = _unit(ang - 95)  # bow moves down-left, across the strings
        bow_len, bow_travel = 0.74 * k, 0.62 * k
        hand_t = 0.95 - 0.85 * hand
        left_hand = base + v * (length + 0.27 * k * hand_t) + _unit(ang - 90) * 0.03
        cv.poly(pts["body"], wood)
        cv.line([base + v * length * 0.55, neck_end], _BLACK, 0.035 * k)
        cv.dot(neck_end, 0.03 * k, _shade(wood, 0.8))
        body.draw_arm(cv, body.shoulder_l, left_hand)
    else:
        standing = inst == "double_bass"
        length = 1.06 if standing else 0.75
        width = 0.66 if standing else 0.44
        neck_len = 0.66 if standing else 0.42
        lift = 0.16 if standing else 0.08
        ang = 96 if standing else 84  # from the floor, leaning towards the player's left
        v = _unit(ang)
        foot = np.array([0.2 if standing else 0.0, lift])
        centre = foot + v * length / 2
        neck_end = foot + v * (length + neck_len)
        cv.line([foot, [foot[0], 0.0]], (90, 90, 90), 0.02)
        cv.poly(_figure_eight(centre, ang, length, width), wood)
        hole = _ellipse(centre - v * length * 0.12, width * 0.06, width * 0.17, ang)
        cv.poly(hole, _shade(wood, 0.55))
        cv.line([foot + v * length * 0.55, neck_end], _BLACK, 0.05 if standing else 0.04)
        cv.dot(neck_end, 0.045, _shade(wood, 0.8))
        contact = foot + v * length * 0.36
        stroke = _unit(188)
        bow_len = 0.72
        bow_travel = 0.62
        left_hand = foot + v * (length + neck_len * (0.9 - 0.75 * hand)) + _unit(ang - 90) * 0.04
        body.draw_arm(cv, body.shoulder_l, left_hand)
    # Dynamics as bow pressure: the stroke sits closer to the bridge and bends the hair.
    right_hand = contact + stroke * bow * bow_travel
    tip = right_hand - stroke * bow_len
    w = 0.02 + 0.012 * dyn
    side = np.array([-stroke[1], stroke[0]]) * w
    cv.line([right_hand, tip], _BOW_HAIR, w)
    cv.line([right_hand + side, tip + side], _BOW_STICK, 0.012)
    body.draw_arm(cv, body.shoulder_r, right_hand)


def _tube(cv, pts, w, color):
    cv.line(pts, color, w)


def _winds(cv, body, inst, hand, dyn):
    m = body.mouth
    if inst == "flute":
        ang = 190 - 14 * dyn  # raised towards horizontal when loud
        v = _unit(ang)
        start, end = m - v * 0.09, m + v * 0.6
        cv.line([start, end], (70, 74, 80), 0.045)  # dark edge: silver on a pale wall
        cv.line([start, end], _SILVER, 0.03)
        cv.dot(m + v * 0.02, 0.018, (90, 90, 96))
        body.draw_arm(cv, body.shoulder_l, m + v * 0.14 + [0, -0.02])
        body.draw_arm(cv, body.shoulder_r, m + v * (0.25 + 0.32 * hand) + [0, -0.02])
    elif inst in ("clarinet", "oboe"):
        clar = inst == "clarinet"
        # Held down-forward from the mouth; raising it towards the camera foreshortens it.
        ang = (-112 if clar else -97) + 10 * dyn
        length = (0.7 if clar else 0.62) * (1 - 0.15 * dyn)
        v, n = _unit(ang), _unit(ang + 90)
        end = m + v * length
        # Arms first, then the tube, then the fingers: both stay visible.
        hands = (m + v * length * 0.3, m + v * length * (0.45 + 0.45 * hand))
        body.draw_arm(cv, body.shoulder_l, hands[0])
        body.draw_arm(cv, body.shoulder_r, hands[1])
        wood = _BLACK if clar else (44, 28, 24)
        cv.line([m, end], wood, 0.045 if clar else 0.036)
        if clar:
            cv.poly(_bar(m + v * (length - 0.12), end + v * 0.03, 0.045, 0.14), _BLACK)
            cv.line([end + v * 0.02 - n * 0.07, end + v * 0.02 + n * 0.07], _SILVER, 0.02)
            cv.line([m + v * 0.07, m + v * 0.1], _SILVER, 0.055)
        else:
            cv.poly(_bar(m + v * (length - 0.07), end + v * 0.02, 0.036, 0.065), wood)
            cv.line([m - v * 0.04, m + v * 0.01], (210, 180, 120), 0.016)
        for t in (0.2, 0.38, 0.56, 0.74):
            cv.dot(m + v * length * t + n * 0.016, 0.013, _SILVER)
        for h in hands:
            cv.dot(h + n * 0.012, 0.03, body.p.skin)
    elif inst == "bassoon":
        low = np.array([-0.27, body.hip[1] - 0.04])
        ang = 66 + 6 * dyn
        v = _unit(ang)
        top = low + v * 1.05
        cv.poly(_bar(low, top, 0.1, 0.085), _WOOD["bassoon"])
        cv.line([top - v * 0.03, top], _shade(_WOOD["bassoon"], 1.5), 0.09)
        cv.line([low + v * 0.3, low + v * 0.33], _shade(_WOOD["bassoon"], 1.6), 0.1)
        joint = low + v * 0.55
        cv.line([m, m + [-0.08, -0.02], joint], _SILVER, 0.014)
        body.draw_arm(cv, body.shoulder_l, low + v * (0.6 + 0.3 * hand))
        body.draw_arm(cv, body.shoulder_r, low + v * 0.18)
    elif inst in ("sax", "saxophone"):
        k = 1.0 if inst == "sax" else 1.2
        tilt = -8 + 14 * dyn
        o = m + [-0.06, -0.08 * k]
        pts = (
            np.array(
                [
                    [0, 0],
                    [-0.06, -0.02],
                    [-0.1, -0.14],
                    [-0.11, -0.34],
                    [-0.09, -0.46],
                    [0.0, -0.5],
                    [0.07, -0.42],
                    [0.09, -0.28],
                ]
            )
            * k
        )
        pts = _rot(pts, np.zeros(2), tilt) + o
        cv.line([m, o], _BRASS_DARK, 0.022)
        cv.line(pts[:4], _BRASS, 0.05 * k)
        cv.line(pts[3:7], _BRASS, 0.07 * k)
        bell_a, bell_b = pts[6], pts[7] + (pts[7] - pts[6]) * 0.5
        cv.poly(_bar(bell_a, bell_b, 0.07 * k, 0.16 * k), _BRASS)
        cv.poly(_ellipse(bell_b, 0.08 * k, 0.03 * k, tilt), _BRASS_DARK)
        up = pts[2] + (pts[3] - pts[2]) * 0.2
        low = pts[2] + (pts[4] - pts[2]) * (0.35 + 0.65 * hand)
        body.draw_arm(cv, body.shoulder_l, up)
        body.draw_arm(cv, body.shoulder_r, low)
    else:
        raise AssertionError(inst)


def _brass(cv, body, inst, hand, dyn):
    m = body.mouth
    if inst == "trumpet":
        ang = -165 - 25 * dyn
        v, n = _unit(ang), _unit(ang + 90)
        valve = m + v * 0.2
        bell = m + v * 0.46
        cv.line([m, bell], _BRASS, 0.04)
        cv.line([m + v * 0.06 - n * 0.07, bell - v * 0.08 - n * 0.07], _BRASS, 0.035)
        cv.line([m + v * 0.06, m + v * 0.06 - n * 0.07], _BRASS, 0.03)
        for t in (-0.035, 0.0, 0.035):
            cv.line([valve + v * t + n * 0.03, valve + v * t - n * 0.1], _BRASS_DARK, 0.026)
        cv.poly(_bar(bell - v * 0.1, bell + v * 0.02, 0.04, 0.18), _BRASS)
        cv.poly(_ellipse(bell + v * 0.02, 0.04, 0.09, ang), _BRASS_DARK)
        body.draw_arm(cv, body.shoulder_l, valve - n * 0.1)
        body.draw_arm(cv, body.shoulder_r, m + v * (0.12 + 0.3 * hand) - n * 0.03)
    elif inst == "trombone":
        ang = -122 - 22 * dyn
        v = _unit(ang)
        n = _unit(ang + 90) * 0.03
        ext = 0.32 + 0.42 * (1 - hand)  # low notes: long extension
        end = m + v * ext
        cv.line([m + n, end + n], _BRASS, 0.022)
        cv.line([m - n, end - n], _BRASS, 0.022)
        cv.line([end + n * 1.5, end - n * 1.5], _BRASS, 0.03)
        brace = m + v * (ext - 0.22)
        cv.line([m + n, m + [0.16, -0.08]], _BRASS, 0.03)
        bell = m + [0.22, -0.12] + v * 0.1
        cv.poly(_ellipse(bell, 0.11, 0.12), _BRASS)
        cv.poly(_ellipse(bell, 0.075, 0.085), _BRASS_DARK)
        body.draw_arm(cv, body.shoulder_l, m + [0.1, -0.08])
        body.draw_arm(cv, body.shoulder_r, brace)
    elif inst == "horn":
        c = body.u([-0.14, body.hip[1] + 0.26]) + [0, 0.04 * dyn]
        cv.ring(c, 0.15, _BRASS, 0.04)
        cv.ring(c, 0.085, _BRASS_DARK, 0.025)
        cv.line([m, m + [-0.02, -0.1], c + [0.1, 0.08]], _BRASS, 0.02)
        bell_top = c + [-0.1, -0.08]
        bell_end = bell_top + [-0.06, -0.22]
        cv.poly(_bar(bell_top, bell_end, 0.06, 0.3), _BRASS)
        cv.poly(_ellipse(bell_end, 0.15, 0.04, -12), _BRASS_DARK)
        a = -30 + 150 * hand  # left hand around the coil
        body.draw_arm(cv, body.shoulder_l, c + _unit(a) * 0.15)
        body.draw_arm(cv, body.shoulder_r, bell_end + [0.04, 0.05])
    elif inst == "tuba":
        base = body.u([-0.05, body.hip[1] + 0.08]) + [0, 0.05 * dyn]
        top = base + [-0.05, 0.78]
        cv.poly(_ellipse(base + [0, 0.08], 0.17, 0.12), _BRASS)
        cv.poly(_bar(base + [0, 0.08], top - [0, 0.12], 0.22, 0.18), _BRASS)
        cv.poly(_bar(top - [0, 0.16], top, 0.16, 0.44), _BRASS)
        cv.poly(_ellipse(top, 0.22, 0.045), _BRASS_DARK)
        for t in (-0.04, 0.0, 0.04):
            cv.line([base + [0.13 + t, 0.32], base + [0.13 + t, 0.48]], _BRASS_DARK, 0.028)
        cv.line([m, m + [0.08, -0.1], base + [0.1, 0.5]], _BRASS, 0.025)
        body.draw_arm(cv, body.shoulder_r, base + [0.13, 0.25 + 0.3 * hand])
        body.draw_arm(cv, body.shoulder_l, base + [0.2, 0.3])
    else:
        raise AssertionError(inst)


def _inis(cv, body, inst, hand, dyn):
    if inst == "guitar":
        ang = 26 + 8 * dyn
        v = _unit(ang)
        centre = np.array([-0.16, body.hip[1] + 0.16])
        cv.poly(_figure_eight(centre, ang, 0.48, 0.37, waist=0.75), _WOOD["guitar"])
        cv.dot(centre + v * 0.07, 0.055, (40, 28, 20))
        neck_end = centre + v * 0.8
        cv.line([centre + v * 0.2, neck_end], (80, 50, 30), 0.05)
        cv.poly(_bar(neck_end, neck_end + v * 0.1, 0.06, 0.07), (50, 32, 22))
        body.draw_arm(cv, body.shoulder_l, centre + v * (0.78 - 0.45 * hand))
        body.draw_arm(cv, body.shoulder_r, centre + v * 0.06 + [0, 0.03 + 0.05 * dyn])
    elif inst == "piano":
        top = body.hip[1] + 0.3
        cv.poly([[-0.75, 0.0], [0.75, 0.0], [0.75, top], [-0.75, top]], (18, 18, 20))
        cv.poly([[-0.72, top], [0.72, top], [0.7, top + 0.07], [-0.7, top + 0.07]], (245, 245, 240))
        for x in np.linspace(-0.66, 0.64, 18):
            cv.line([[x, top + 0.035], [x, top + 0.07]], (20, 20, 20), 0.018)
        x = 0.5 - hand
        lift = 0.04 + 0.08 * dyn
        body.draw_arm(cv, body.shoulder_l, [x + 0.12, top + lift])
        body.draw_arm(cv, body.shoulder_r, [x - 0.12, top + lift])
    elif inst == "drum":
        kick = np.array([0.0, 0.27])
        cv.poly(_ellipse(kick, 0.28, 0.27), (200, 30, 36))
        cv.poly(_ellipse(kick, 0.24, 0.23), (236, 232, 222))
        snare = np.array([-0.3, 0.62])
        cv.poly(_bar(snare - [0, 0.08], snare, 0.3), (190, 190, 196))
        cv.poly(_ellipse(snare, 0.15, 0.04), (236, 232, 222))
        cv.line([[0.5, 0.0], [0.5, 1.05]], (120, 120, 120), 0.015)
        cv.poly(_ellipse([0.5, 1.05], 0.2, 0.03), _BRASS)
        cv.line([[-0.55, 0.0], [-0.55, 0.9]], (120, 120, 120), 0.015)
        cv.poly(_ellipse([-0.55, 0.9], 0.16, 0.025), _BRASS)
        raise_ = 0.1 + 0.25 * dyn
        rh = np.array([-0.3 + 0.5 * hand, 0.75 + raise_])
        lh = np.array([-0.1, 0.8 + 0.1 * dyn])
        for h, tipd in ((rh, [-0.08, -0.2]), (lh, [-0.2, -0.16])):
            cv.line([h, h + tipd], (226, 200, 150), 0.02)
        body.draw_arm(cv, body.shoulder_r, rh)
        body.draw_arm(cv, body.shoulder_l, lh)
    else:
        raise AssertionError(inst)


# ---------------------------------------------------------------- scene


def _draw_room(cv, scene):
    n = cv.n
    hy = int(scene.horizon * n)
    cv.d.rectangle((0, hy, n, n), fill=scene.floor)
    cv.d.rectangle((0, hy - n // 40, n, hy), fill=_shade(scene.wall, 0.75))
    if scene.panel is not None:
        x0, y0, x1, y1 = scene.panel
        cv.d.rectangle((x0 * n, y0 * n, x1 * n, min(y1, scene.horizon - 0.03) * n),
                       fill=scene.panel_color)  # fmt: skip


def _draw_chair(cv, body, color):
    h = body.hip[1]
    cv.poly([[-0.2, h + 0.55], [0.2, h + 0.55], [0.22, h - 0.02], [-0.22, h - 0.02]], color)
    cv.line([[-0.2, h - 0.05], [-0.22, 0.0]], color, 0.03)
    cv.line([[0.2, h - 0.05], [0.22, 0.0]], color, 0.03)


_CHANNEL_OFFSET = np.array([0, 256, 512], np.intp)
#: Instruments whose raising (dynamics) turns them counter-clockwise in the picture.
_RAISED_CCW = ("violin", "viola", "clarinet", "oboe", "bassoon", "sax", "saxophone", "guitar")


def draw_performer(
    instrument: str, pose, player: Player, scene: Scene, size: int = 64
) -> np.ndarray:
    """Render one performance frame.

    Args:
        instrument: one of :data:`INSTRUMENTS`.
        pose: ``(hand, bow, dynamics)``, each in [0, 1] (values outside are clipped).
        player: from :func:`random_player`.
        scene: from :func:`random_scene`.
        size: output height and width in pixels (64 or 128 in the papers).

    Returns:
        ``uint8`` array ``[size, size, 3]``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> img = draw_performer("cello", (0.3, 0.5, 0.8), random_player("cello", rng),
        ...                      random_scene(rng))
    """
    _check(instrument)
    if int(size) != size or size < 8:
        raise ValueError(f"image size must be an integer >= 8, got {size}")
    hand, bow, dyn = (float(np.clip(v, 0.0, 1.0)) for v in pose)
    cv = _Canvas(size, scene, player)
    _draw_room(cv, scene)
    # The lean turns the same way as the instrument is raised, so the two cues add up.
    lean = 16 * dyn * (1 if instrument in _RAISED_CCW else -1)
    body = _Body(player, lean_deg=lean)
    if not player.standing and instrument != "piano":
        _draw_chair(cv, body, scene.chair)
    if instrument != "piano":  # the piano hides the legs
        body.draw_legs(cv)
    body.draw_torso(cv)
    if instrument in BOWED:
        _bowed(cv, body, instrument, hand, bow, dyn)
    elif instrument in ("flute", "clarinet", "oboe", "bassoon", "sax", "saxophone"):
        _winds(cv, body, instrument, hand, dyn)
    elif instrument in ("trumpet", "trombone", "horn", "tuba"):
        _brass(cv, body, instrument, hand, dyn)
    else:
        _inis(cv, body, instrument, hand, dyn)
    # Lighting (brightness and colour cast) as a per-channel lookup table.
    gains = scene.brightness * np.asarray(scene.cast)[:, None]
    lut = np.clip(np.arange(256) * gains + 0.5, 0, 255).astype(np.uint8).ravel()
    rgb = np.asarray(cv.img.reduce(SUPERSAMPLE))
    return lut[rgb + _CHANNEL_OFFSET]
