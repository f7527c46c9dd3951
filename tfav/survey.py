"""``python -m tfav.survey make RUN [RUN ...] --out DIR`` / ``score DIR ANSWERS.json ...``:
a blind human evaluation of generators, as a static web page, and its scores.

``make`` draws ``--items`` validation pairs of the runs' dataset with ``--seed``
(the same pairs for every run: the runs must share their data and instrument and
go one way, all S2I or all I2S). For every item each run's generator makes
``--draws`` samples (default 2), with the noise ``tfav.generate --seed`` draws
(``performance.noise(z_dim, seed, items * draws)``, row ``item * draws + draw``,
so runs of one noise width see the same noise), and the real frame (S2I) or the
real sound (I2S) of the pair joins them as the ``real`` pseudo-model, the
ceiling row, as Chen et al.'s "ground-truth image to calibrate the scores". An
S2I item plays the pair's sound and shows the samples (PNG, enlarged with
``image-rendering: pixelated``); an I2S item shows the pair's frame and plays
the samples (I2S spectrograms become sound by the neural vocoder, as ``tfav.generate
--image``, or ``--vocoder griffin-lim``). Every sound is a 16-bit 44.1 kHz mono
WAV: the 0.5 s chunk at a 0.9 peak with 10 ms fades, played twice with 0.25 s of
silence between (1.25 s). Like Chen et al.'s raters, who "are well-informed about
the music instrument category" but "not aware [of] the mapping between images to
methods", the rater sees the pair's instrument, and the samples of an item in a
new random order under random opaque ids (file names too). The page lives in
``DIR/page/`` (``index.html``, ``survey.js``, ``media/``; no server, no network,
opened as ``file://`` or served statically: give raters that folder);
``DIR/key.json``, which the page never loads, maps every sample id to its run.

For every sample the page asks three questions:

* **Chen et al. 2017, sec. 5.2.1, Table 4** ("Scoring guideline of human
  evaluation"), 0 to 3: "3 Realistic image & match instrument; 2 Realistic image &
  mismatch instrument; 1 Fair image (player visible, instrument not visible);
  0 Unrealistic image". Chen et al. rated only images; for I2S the page asks the
  same of the sound ("Realistic sound & match instrument", ...; 1: "Fair sound (a
  musical tone, instrument not recognisable)").
* **Wan et al. 2019, sec. 5.5.1** (Table 5), 1 to 5: "If the generated image is
  unreal or uncorrelated to testing sound, people should rate this pair with lower
  score. On the contrary, if the generated image seems real enough and have high
  correlation with sound, this pair should get higher score." (I2S: sound and
  image swapped.)
* **related / unrelated / cannot tell**, after Wan et al. 2019, sec. 5.5.2
  (Table 6): there the rater hears a sound and picks the more correlated of two
  images generated from sounds of different classes, or neither (positive /
  negative / neither); the page asks it of each sample alone: "Is this image
  related to the sound?"

The rater's answers stay in the browser (``localStorage``) and are saved by the
"Download answers" button as a JSON file (``answers-<survey>-<rater>.json``).

``score`` reads ``DIR/key.json`` and the answer files and writes, atomically,
``DIR/scores.json`` and ``DIR/scores.md`` (also printed): per model, the mean
Chen score and the mean Wan score, the shares of related / unrelated / cannot
tell, each with a 95% percentile bootstrap confidence interval over items (the
items are resampled with replacement, 2000 times, with all their ratings, since
ratings of one item share its sound and its raters; one resampling for every
model, so differences are paired), the numbers of ratings and raters, and
Krippendorff's alpha (units: samples; ordinal for the 0-3 scale, interval for the
1-5 scale, nominal for the related question) per model and over all samples. An
answers file that is not JSON, belongs to another survey or names a sample the key
does not have, a rater's two files, and a folder without ``key.json`` are
one-line errors naming the file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tfav import audio, performance, tasks, training
from tfav.audio import SAMPLE_RATE
from tfav.cli import number_in, one_line_errors
from tfav.data.pipeline import load_arrays, open_index
from tfav.errors import ConfigError, DataError
from tfav.files import atomic_folder, atomic_write_bytes, atomic_write_json, atomic_write_text
from tfav.models.generators import resize_spectrogram
from tfav.runs import load_trained, read_generator_run
from tfav.visualize import png_bytes, to_uint8_image

#: The survey folder's key (never loaded by the page) and the page's folder in it.
KEY, PAGE = "key.json", "page"
KEY_FORMAT, ANSWERS_FORMAT, FORMAT_VERSION = "tfav-survey-key", "tfav-survey-answers", 1
#: The pseudo-model of the pairs' own frames (S2I) or sounds (I2S).
REAL = "real"
#: Samples per run and item, and items, by default.
DRAWS, ITEMS = 2, 10
#: Bootstrap resamples of the confidence intervals, and their level.
RESAMPLES, CONFIDENCE = 2000, 0.95
#: The answers of the related question (stored values) and how the page shows them.
RELATED = {"related": "related", "unrelated": "unrelated", "cannot_tell": "cannot tell"}
#: Sounds: fades at both ends, the silence between the two plays.
FADE_SECONDS, GAP_SECONDS, PEAK = 0.01, 0.25, 0.9

_WORDS = {"s2i": ("image", "sound"), "i2s": ("sound", "image")}


def questions(direction: str) -> list[dict]:
    """The page's questions for ``direction`` (``s2i``: rate images of a sound; ``i2s``:
    sounds of an image): key, text, source, options (value, label) and the level of
    measurement Krippendorff's alpha treats the answers at."""
    sample, stimulus = _WORDS[direction]
    fair = ("Fair image (player visible, instrument not visible)" if sample == "image" else
            "Fair sound (a musical tone, instrument not recognisable)")
    return [
        {"key": "chen", "level": "ordinal", "scale": [0, 3],
         "source": "Chen et al. 2017, sec. 5.2.1, Table 4 (scoring guideline of human "
                   "evaluation)" + ("" if sample == "image" else ", asked of the sound"),
         "text": f"Score this {sample} (you know the instrument of the set).",
         "short": "1. Score (0-3)",
         "options": [[0, f"0: Unrealistic {sample}"], [1, f"1: {fair}"],
                     [2, f"2: Realistic {sample} & mismatch instrument"],
                     [3, f"3: Realistic {sample} & match instrument"]]},
        {"key": "wan", "level": "interval", "scale": [1, 5],
         "source": "Wan et al. 2019, sec. 5.5.1 (Table 5)",
         "text": f"Rate this {sample} with the {stimulus} from 1 to 5: if the {sample} is "
                 f"unreal or uncorrelated to the {stimulus}, rate it lower; if it seems real "
                 f"enough and has high correlation with the {stimulus}, higher.",
         "short": f"2. With the {stimulus}, 1 to 5",
         "options": [[1, "1: unreal or unrelated"], [2, "2"], [3, "3"], [4, "4"],
                     [5, "5: real and related"]]},
        {"key": "related", "level": "nominal",
         "source": "after Wan et al. 2019, sec. 5.5.2 (Table 6: positive / negative / "
                   "neither), asked of each sample",
         "text": f"Is this {sample} related to the {stimulus}?",
         "short": f"3. Related to the {stimulus}?",
         "options": [[k, v] for k, v in RELATED.items()]},
    ]


# --------------------------------------------------------------------------- make


def _survey_runs(run_dirs):
    """``[(label, path, task, config)]`` of the runs, or a one-line error when they
    are not generator runs of one direction, dataset and instrument."""
    found, seen = [], {}
    for given in run_dirs:
        path = Path(given)
        if not path.is_dir():
            raise ConfigError(f"{path}: no such run folder")
        task, config = read_generator_run(path)
        real = os.path.realpath(path)
        if real in seen:
            raise ConfigError(f"{path}: the same run as {seen[real]}; give each run once")
        seen[real] = path
        label = str(given)
        found.append(("./" + label if label == REAL else label, path, task, config))
    first_label, _, first, config = found[0]
    for label, _, task, other in found[1:]:
        if task.direction != first.direction:
            raise ConfigError(f"{label}: {task.name} goes {task.direction.upper()}, but "
                              f"{first_label} ({first.name}) goes {first.direction.upper()}; "
                              "a survey compares runs that go one way")
        for name in ("data", "instrument"):
            mine, theirs = other.get(name), config.get(name)
            if name == "data" and isinstance(mine, str) and isinstance(theirs, str):
                same = os.path.realpath(mine) == os.path.realpath(theirs)
            else:
                same = mine == theirs
            if not same:
                raise ConfigError(f"{label}: trained with {name} {other.get(name)}, but "
                                  f"{first_label} with {config.get(name)}; a survey shows "
                                  "every run the same pairs (runs of one dataset and "
                                  "instrument)")
    if "data" not in config:
        raise ConfigError(f"{first_label}/config.json: no data folder in the run "
                          "configuration")
    return found


def generated_samples(model, task, arrays, z, vocoder=None, batch=32, bar=None):
    """One sample per row of ``z`` for the items of ``arrays`` (``load_arrays``), row ``r``
    from item ``r // draws`` (``draws = len(z) // items``): uint8 images ``[R, S, S, 3]``
    (S2I) or waveforms ``[R, L]`` (I2S, through ``vocoder``)."""
    draws = len(z) // len(arrays["label"])
    if task.direction == "s2i":
        conditions = tasks.sound_condition(arrays["waveform"], getattr(task, "condition", "lms"))
    else:
        conditions = arrays["image"]
    out = []
    for first in range(0, len(z), batch):
        rows = np.arange(first, min(first + batch, len(z)))
        cond = conditions[rows // draws]
        made = model.generate(cond, z=z[rows])
        if task.direction == "s2i":
            out.append(to_uint8_image(made))
        else:
            out.append(vocoder(resize_spectrogram(made, tasks.LMS_FRAMES)))
        if bar is not None:
            bar.update(len(rows))
    return np.concatenate(out)


def wav_bytes(wave) -> bytes:
    """A 0.5 s chunk as the page plays it: 16-bit 44.1 kHz mono WAV with 10 ms fades, at a
    0.9 peak, played twice with 0.25 s of silence between. Every chunk is cut or padded
    with silence to 22,050 samples first (vocoded ones have 22,016), so no file's length
    tells a real sound from a generated one."""
    wave = np.asarray(wave, np.float32)[: audio.CHUNK_SAMPLES]
    wave = np.pad(wave, (0, audio.CHUNK_SAMPLES - len(wave)))
    fade = int(FADE_SECONDS * SAMPLE_RATE)
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32) ** 2
    wave[:fade] *= ramp
    wave[len(wave) - fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(wave), initial=0.0))
    wave = PEAK * wave / peak if peak > 1e-9 else wave
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    return audio.wav_bytes(np.concatenate([wave, gap, wave]))


def _new_id(taken: set) -> str:
    while True:
        token = secrets.token_hex(5)
        if token not in taken:
            taken.add(token)
            return token


def _check_out(out: Path):
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder; a survey is written to "
                          "a new folder (answers to an old survey would not match a new one)")


def make_survey(run_dirs, out, *, items: int = ITEMS, seed: int = 0, draws: int = DRAWS,
                checkpoint: str = "last", vocoder: str = "neural", progress: bool = True,
                log=print) -> dict:
    """Write the survey folder ``out`` (module docstring) and return its key.

    The folder is built beside ``out`` and renamed into place at the end: a failure
    leaves nothing.

    Raises:
        ConfigError: runs that are not generator runs of one direction, dataset and
            instrument; an ``out`` that is not a new or empty folder.
        DataError: no validation pairs.
    """
    out = Path(out)
    if not run_dirs:
        raise ConfigError("give one or more run folders")
    if items < 1 or draws < 1:
        raise ConfigError(f"--items and --draws must be >= 1, got {items} and {draws}")
    _check_out(out)
    found = _survey_runs(run_dirs)
    direction = found[0][2].direction
    config = found[0][3]
    instrument = config.get("instrument")
    categories = [instrument] if instrument else None
    index = open_index(config["data"])
    total = index.count("validation", categories)
    if not total:
        raise DataError(f"{config['data']}: no validation pairs"
                        + (f" of {instrument}" if instrument else "") + " to survey")
    if items > total:
        log(f"[tfav] only {total} validation pairs; the survey has {total} items")
        items = total
    positions = sorted(np.random.default_rng(seed).choice(total, items, replace=False).tolist())
    # S2I: the real frame at the smallest generated size (Chen et al. rate all at 64x64);
    # I2S: the generator's input size.
    size = min(task.image_size for _, _, task, _ in found)
    arrays = load_arrays(index, "validation", categories=categories, image_size=size,
                         positions=positions)
    sound = training.vocoder_for(vocoder, config.get("data")) if direction == "i2s" else None

    samples = {}  # label -> [items * draws] images or waveforms
    bar = tqdm(total=len(found) * items * draws, desc="survey", unit="sample",
               disable=not progress)
    try:
        for label, path, task, _ in found:
            model = load_trained(path, task.name, checkpoint=checkpoint)
            z = performance.noise(model.z_dim, seed, items * draws)
            samples[label] = generated_samples(model, task, arrays, z, sound, bar=bar)
    finally:
        bar.close()
    if direction == "s2i":
        samples[REAL] = to_uint8_image(arrays["image"])
    else:
        samples[REAL] = arrays["waveform"]

    def media(value) -> tuple[str, bytes]:
        is_image = np.ndim(value) == 3
        return (".png", png_bytes(value)) if is_image else (".wav", wav_bytes(value))

    survey = secrets.token_hex(8)
    taken, order = set(), np.random.default_rng()  # fresh entropy: the seed does not tell
    key = {
        "format": KEY_FORMAT, "version": FORMAT_VERSION, "survey": survey,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "direction": direction,
        "data": config["data"], "instrument": instrument, "seed": seed, "draws": draws,
        "checkpoint": checkpoint, "vocoder": vocoder if direction == "i2s" else None,
        "questions": {q["key"]: {k: v for k, v in q.items() if k != "key"}
                      for q in questions(direction)},
        "models": {label: {"run": os.path.abspath(path), "task": task.name}
                   for label, path, task, _ in found},
        "items": {}, "samples": {},
    }  # fmt: skip
    key["models"][REAL] = {"run": None, "task": None}
    page_items = []
    with atomic_folder(out) as build:
        folder = build / PAGE / "media"
        for i in range(items):
            item = f"i{i + 1}"
            category = index.categories[int(arrays["label"][i])]
            stimulus = arrays["waveform"][i] if direction == "s2i" else to_uint8_image(
                arrays["image"][i])
            suffix, data = media(stimulus)
            name = _new_id(taken) + suffix
            atomic_write_bytes(folder / name, data)
            pair = arrays["id"][i]
            key["items"][item] = {"pair": pair.decode() if isinstance(pair, bytes) else str(pair),
                                  "category": category, "stimulus": f"media/{name}"}
            drawn = [(label, draw, made[i] if draw is None else made[i * draws + draw])
                     for label, made in samples.items()
                     for draw in ([None] if label == REAL else range(draws))]
            order.shuffle(drawn)  # the page's order, and the order the files are written in
            shown = []
            for label, draw, value in drawn:
                sample = _new_id(taken)
                suffix, data = media(value)
                atomic_write_bytes(folder / (sample + suffix), data)
                key["samples"][sample] = {"item": item, "model": label, "draw": draw}
                shown.append({"id": sample, "media": f"media/{sample}{suffix}"})
            page_items.append({"id": item, "category": category,
                               "stimulus": f"media/{name}", "samples": shown})
        page = {"survey": survey, "version": FORMAT_VERSION, "format": ANSWERS_FORMAT,
                "direction": direction, "questions": questions(direction), "items": page_items}
        write_page(build / PAGE, page)
        atomic_write_json(build / KEY, key)
    runs = f"{len(found)} run" + ("s" if len(found) > 1 else "")
    log(f"[tfav] wrote {out}: {items} items x ({runs} x {draws} draws + real) = "
        f"{len(key['samples'])} samples; give raters {out / PAGE} (not {out / KEY}); then "
        f"python -m tfav.survey score {out} ANSWERS.json ...")
    return key


# --------------------------------------------------------------------------- the page

_STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em; color: #222; background: #fafafa; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin: 0 0 .3em; }
.questions li { margin-bottom: .4em; } .source { color: #666; font-size: .85em; }
.item { background: #fff; border: 1px solid #ccc; border-radius: 6px; margin: 1.2em 0;
        padding: .8em; }
.stimulus { margin: .4em 0 .8em; }
.samples { display: flex; flex-wrap: wrap; gap: .8em; }
.sample { border: 2px solid #ddd; border-radius: 6px; padding: .5em; width: 300px; }
.sample.done { border-color: #3a3; }
.sample img, .stimulus img { width: 192px; height: 192px; image-rendering: pixelated;
        display: block; margin: 0 auto .4em; }
audio { width: 100%; }
fieldset { border: 0; border-top: 1px solid #eee; margin: .3em 0 0; padding: .3em 0 0; }
legend { font-weight: 600; font-size: .9em; }
label { display: block; font-size: .9em; cursor: pointer; }
.bar { position: sticky; bottom: 0; background: #fff; border-top: 1px solid #ccc;
       padding: .6em; display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
button { font-size: 1em; padding: .4em 1em; }
"""

_SCRIPT = r"""
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("survey-data").textContent);
  const storeKey = "tfav-survey:" + data.survey;
  const perSample = data.questions.length;
  const total = data.items.reduce((n, item) => n + item.samples.length, 0) * perSample;

  function token() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function fresh() {
    return {rater: "", token: token(), started: new Date().toISOString(), answers: {}};
  }
  function load() {
    try {
      const s = JSON.parse(localStorage.getItem(storeKey));
      if (s && typeof s.token === "string" && s.answers && typeof s.answers === "object") {
        return s;
      }
    } catch (e) { /* no storage here, or a damaged entry: start afresh */ }
    return fresh();
  }
  let state = load();
  function save() {
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* none */ }
  }
  function answered() {
    let n = 0;
    for (const a of Object.values(state.answers)) n += Object.keys(a).length;
    return n;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }
  function mediaOf(src) {
    if (src.endsWith(".wav")) {
      return el("audio", {controls: "", preload: "auto", src: src});
    }
    return el("img", {src: src, alt: ""});
  }

  const root = document.getElementById("survey");
  const list = el("ol", {class: "questions"});
  for (const q of data.questions) {
    list.append(el("li", {}, el("span", {text: q.text + " "}),
                   el("span", {class: "source", text: "(" + q.source + ")"})));
  }
  root.append(el("p", {text: data.direction === "s2i"
    ? "Each set below plays a sound and shows images for it, in random order. "
      + "Listen to the sound, then answer three questions for every image."
    : "Each set below shows an image and plays sounds for it, in random order. "
      + "Look at the image, then listen to every sound and answer three questions for it."}));
  root.append(list);
  const name = el("input", {id: "rater", type: "text", size: "24",
                            placeholder: "your name or initials (optional)"});
  name.value = state.rater || "";
  name.addEventListener("input", () => { state.rater = name.value; save(); });
  root.append(el("p", {}, el("label", {for: "rater", text: "Rater: "}), name));

  const cards = {};
  function mark(sampleId) {
    const given = state.answers[sampleId] || {};
    cards[sampleId].classList.toggle("done", Object.keys(given).length === perSample);
  }
  data.items.forEach((item, k) => {
    const section = el("section", {class: "item", id: "item-" + item.id});
    section.append(el("h2", {text: "Set " + (k + 1) + " of " + data.items.length
                             + " \u2014 instrument: " + item.category}));
    section.append(el("div", {class: "stimulus"}, mediaOf(item.stimulus)));
    const row = el("div", {class: "samples"});
    item.samples.forEach((sample, j) => {
      const card = el("div", {class: "sample", id: "sample-" + sample.id,
                              "data-sample": sample.id});
      card.append(el("div", {class: "source", text: "Sample " + (j + 1)}), mediaOf(sample.media));
      for (const q of data.questions) {
        const set = el("fieldset", {title: q.text}, el("legend", {text: q.short}));
        for (const [value, label] of q.options) {
          const input = el("input", {type: "radio", name: sample.id + ":" + q.key,
                                     value: String(value)});
          const given = state.answers[sample.id];
          if (given && given[q.key] === value) input.checked = true;
          input.addEventListener("change", () => {
            state.answers[sample.id] = state.answers[sample.id] || {};
            state.answers[sample.id][q.key] = value;
            save();
            mark(sample.id);
            progress();
          });
          set.append(el("label", {}, input, " " + label));
        }
        card.append(set);
      }
      cards[sample.id] = card;
      row.append(card);
      mark(sample.id);
    });
    section.append(row);
    root.append(section);
  });

  const status = el("span", {id: "progress"});
  const saved = el("span", {id: "saved", class: "source"});
  function progress() {
    const n = answered();
    status.textContent = n + " of " + total + " answers given"
      + (n < total ? " (you may download now and go on later)" : " \u2014 all done, thank you");
  }
  function safe(text) { return text.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 40) || "rater"; }
  const download = el("button", {id: "download", type: "button", text: "Download answers"});
  download.addEventListener("click", () => {
    const body = {format: data.format, version: data.version, survey: data.survey,
                  rater: (state.rater || "").trim() || state.token, rater_token: state.token,
                  started: state.started, saved: new Date().toISOString(),
                  answered: answered(), answers_total: total, answers: state.answers};
    const blob = new Blob([JSON.stringify(body, null, 1)], {type: "application/json"});
    const link = el("a", {href: URL.createObjectURL(blob),
                          download: "answers-" + data.survey + "-" + safe(body.rater) + ".json"});
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 5000);
    saved.textContent = "Saved " + link.download + " (" + body.answered
      + " answers). Send this file back.";
  });
  const reset = el("button", {id: "reset", type: "button", text: "Start over (new rater)"});
  reset.addEventListener("click", () => {
    if (!window.confirm("Forget every answer in this browser and start as a new rater?")) return;
    state = fresh();
    save();
    location.reload();
  });
  root.append(el("div", {class: "bar"}, status, download, reset, saved));
  progress();
})();
"""

_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Listening and viewing survey</title>
<style>{style}</style>
</head>
<body>
<h1>Listening and viewing survey</h1>
<noscript><p>This survey needs JavaScript.</p></noscript>
<div id="survey"></div>
<script id="survey-data" type="application/json">{data}</script>
<script src="survey.js"></script>
</body>
</html>
"""


def write_page(folder, page: dict) -> None:
    """``index.html`` (with ``page``, the survey's items and questions, in it) and
    ``survey.js`` in ``folder``; nothing loaded from the network."""
    # "<" escaped, so no value can close the script element.
    data = json.dumps(page, indent=1).replace("<", "\\u003c")
    atomic_write_text(Path(folder) / "index.html", _HTML.format(style=_STYLE.strip(), data=data))
    atomic_write_text(Path(folder) / "survey.js", _SCRIPT.lstrip())


# --------------------------------------------------------------------------- statistics


def krippendorff_alpha(units, level: str = "nominal"):
    """Krippendorff's alpha of reliability data: ``units`` is a list of the values the
    raters gave each unit (missing ratings left out; units with fewer than two values
    are not pairable and do not count).

    ``alpha = 1 - D_o / D_e = 1 - (n - 1) sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck``
    (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), with the
    coincidence matrix ``o_ck = sum_u (pairs of values c, k in unit u) / (m_u - 1)``
    over ordered pairs of different raters, its marginals ``n_c`` and ``n = sum n_c``,
    and ``d2_ck`` the metric of ``level``: ``nominal`` 0 or 1; ``interval``
    ``(c - k)^2``; ``ordinal`` ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2``.

    Returns:
        alpha (1: perfect agreement, 0: chance), or ``None`` when it is undefined: no
        pairable unit, or a single value throughout (no expected disagreement).
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"level must be nominal, ordinal or interval, got {level!r}")
    units = [list(u) for u in units if len(u) >= 2]
    if not units:
        return None
    values = sorted({v for u in units for v in u})
    where = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for u in units:
        counts = np.bincount([where[v] for v in u], minlength=len(values)).astype(float)
        o += (np.outer(counts, counts) - np.diag(counts)) / (len(u) - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if level == "nominal":
        d2 = 1.0 - np.eye(len(values))
    elif level == "interval":
        v = np.asarray(values, float)
        d2 = (v[:, None] - v[None, :]) ** 2
    else:
        cum = np.concatenate([[0.0], np.cumsum(n_c)])  # cum[k + 1] - cum[c] = sum_{g=c..k}
        lo = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
        hi = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
        d2 = (cum[hi + 1] - cum[lo] - (n_c[lo] + n_c[hi]) / 2) ** 2
    expected = float((np.outer(n_c, n_c) * d2).sum())
    if expected <= 0:
        return None
    return float(1.0 - (n - 1) * float((o * d2).sum()) / expected)


def bootstrap_weights(n_items: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """``[resamples, n_items]``: how often each item is drawn in each bootstrap resample
    of the items (with replacement)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=resamples)


def ratio_ci(numerators, denominators, weights, confidence: float = CONFIDENCE):
    """``(estimate, [low, high])`` of ``sum(numerators) / sum(denominators)`` (per item)
    with the percentile interval of the bootstrap resamples ``weights``
    (:func:`bootstrap_weights`); ``(None, None)`` when the denominators are all 0."""
    num, den = np.asarray(numerators, float), np.asarray(denominators, float)
    if den.sum() <= 0:
        return None, None
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = (weights @ num) / (weights @ den)
    stats = stats[np.isfinite(stats)]
    if not len(stats):
        return float(num.sum() / den.sum()), None
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(num.sum() / den.sum()), [float(low), float(high)]


# --------------------------------------------------------------------------- score


def _read_json(path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        reason = (f"{e.msg}, line {e.lineno}" if isinstance(e, json.JSONDecodeError)
                  else "not UTF-8 text")
        raise DataError(f"{path}: not valid JSON ({reason}); {what}") from e
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from e
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(value).__name__}; {what}")
    return value


def read_key(survey_dir) -> dict:
    """A survey folder's ``key.json``, or a one-line error naming it."""
    survey_dir = Path(survey_dir)
    if not survey_dir.is_dir():
        raise ConfigError(f"{survey_dir}: no such survey folder")
    path = survey_dir / KEY
    if not path.exists():
        raise ConfigError(f"{survey_dir}: no {KEY} (not a folder written by python -m "
                          "tfav.survey make, or its key was moved)")
    key = _read_json(path, "restore it from a copy (the answers cannot be scored without it)")
    if key.get("format") != KEY_FORMAT or not isinstance(key.get("samples"), dict):
        raise ConfigError(f"{path}: not a survey key (python -m tfav.survey make writes it)")
    return key


def read_answers(path, key) -> dict:
    """One rater's answers file, checked against the survey's ``key``: ``{"rater",
    "token", "answers": {sample: {question: value}}}``.

    Raises:
        DataError: not JSON, not an answers file, another survey's, or a sample,
            question or value the survey does not have, naming the file.
    """
    body = _read_json(path, "download the answers from the survey page again")
    if body.get("format") != ANSWERS_FORMAT or not isinstance(body.get("answers"), dict):
        raise DataError(f"{path}: not a survey answers file (the page's 'Download answers' "
                        "writes one)")
    if body.get("survey") != key["survey"]:
        raise DataError(f"{path}: answers for another survey ({body.get('survey')}; this "
                        f"folder's key.json is survey {key['survey']})")
    token = body.get("rater_token")
    if not isinstance(token, str) or not token:
        raise DataError(f"{path}: no rater_token (not written by the survey page)")
    allowed = {q: {v for v, _ in spec["options"]} for q, spec in key["questions"].items()}
    answers = {}
    for sample, given in body["answers"].items():
        if sample not in key["samples"]:
            raise DataError(f"{path}: sample '{sample}' is not in this survey's key.json")
        if not isinstance(given, dict):
            raise DataError(f"{path}: sample '{sample}': expected an object of answers")
        for question, value in given.items():
            if question not in allowed:
                raise DataError(f"{path}: sample '{sample}': unknown question '{question}'")
            if (isinstance(value, bool) or not isinstance(value, int | str)
                    or value not in allowed[question]):
                raise DataError(f"{path}: sample '{sample}': {question} must be one of "
                                f"{', '.join(map(str, sorted(allowed[question], key=str)))}, "
                                f"got {value!r}")
        if given:
            answers[sample] = dict(given)
    rater = body.get("rater") if isinstance(body.get("rater"), str) else token
    return {"rater": rater, "token": token, "answers": answers}


def score_survey(survey_dir, answer_paths, *, resamples: int = RESAMPLES, seed: int = 0,
                 log=print) -> dict:
    """Score the answer files of a survey (module docstring); writes ``scores.json``
    and ``scores.md`` in ``survey_dir`` atomically, prints the table, returns the scores.

    Raises:
        ConfigError: no ``key.json``. DataError: a bad answers file (named), the same
            rater's answers in two files, or no answer at all.
    """
    survey_dir = Path(survey_dir)
    key = read_key(survey_dir)
    raters, files = {}, []
    for path in answer_paths:
        answers = read_answers(path, key)
        if answers["token"] in raters:
            raise DataError(f"{path}: the same rater ({answers['rater']}) as "
                            f"{raters[answers['token']]['file']}; keep one of the two files")
        raters[answers["token"]] = {**answers, "file": str(path)}
        files.append(str(path))
    if not any(r["answers"] for r in raters.values()):
        raise DataError(f"{', '.join(files)}: no answers in the file(s)")

    items = list(key["items"])
    item_of = {s: items.index(v["item"]) for s, v in key["samples"].items()}
    weights = bootstrap_weights(len(items), resamples, seed)
    qs = key["questions"]

    def summary(samples):
        samples = set(samples)
        out = {"samples": len(samples)}
        rated = [(r, s) for r in raters.values() for s in r["answers"] if s in samples]
        out["ratings"] = len(rated)
        out["raters"] = len({r["token"] for r, _ in rated})
        for q, spec in qs.items():
            units = {}
            for r, s in rated:
                if q in r["answers"][s]:
                    units.setdefault(s, []).append(r["answers"][s][q])
            count = np.zeros(len(items))
            for s, values in units.items():
                count[item_of[s]] += len(values)
            entry = {"n": int(count.sum()),
                     "alpha": krippendorff_alpha(list(units.values()), spec["level"]),
                     "alpha_level": spec["level"]}
            if q == "related":
                entry["shares"] = {}
                for choice in RELATED:
                    hits = np.zeros(len(items))
                    for s, values in units.items():
                        hits[item_of[s]] += sum(v == choice for v in values)
                    share, ci = ratio_ci(hits, count, weights)
                    entry["shares"][choice] = {"share": share, "ci": ci}
            else:
                sums = np.zeros(len(items))
                for s, values in units.items():
                    sums[item_of[s]] += float(sum(values))
                entry["mean"], entry["ci"] = ratio_ci(sums, count, weights)
                entry["scale"] = spec.get("scale")
            out[q] = entry
        return out

    models = []
    for label, spec in key["models"].items():
        mine = [s for s, v in key["samples"].items() if v["model"] == label]
        models.append({"model": label, "task": spec.get("task"), "run": spec.get("run"),
                       **summary(mine)})
    scores = {
        "survey": key["survey"], "survey_dir": str(survey_dir), "direction": key["direction"],
        "answer_files": files, "raters": len(raters), "items": len(items),
        "ci": f"{CONFIDENCE:.0%} percentile bootstrap intervals over the {len(items)} items "
              f"(drawn with replacement, each with all its ratings; {resamples} resamples, "
              f"seed {seed})",
        "agreement": "Krippendorff's alpha over samples rated by two or more raters: "
                     + ", ".join(f"{spec['level']} for {q}" for q, spec in qs.items()),
        "models": models, "all": summary(key["samples"]),
    }  # fmt: skip
    text = scores_markdown(scores)
    atomic_write_json(survey_dir / "scores.json", scores)
    atomic_write_text(survey_dir / "scores.md", text)
    log(text.rstrip())
    return scores


def _with_ci(value, ci, form: str) -> str:
    if value is None:
        return "-"
    return f"{value:{form}}" + ("" if ci is None else f" [{ci[0]:{form}}, {ci[1]:{form}}]")


def _mean(entry) -> str:
    return _with_ci(entry["mean"], entry["ci"], ".2f")


def _share(entry) -> str:
    return _with_ci(entry["share"], entry["ci"], ".0%")


def _alpha(entry) -> str:
    return "n/a" if entry["alpha"] is None else f"{entry['alpha']:.3f}"


def scores_markdown(scores: dict) -> str:
    """The tables of ``scores`` (:func:`score_survey`) in Markdown."""
    lines = [
        f"# Human evaluation: survey {scores['survey']}", "",
        f"{scores['raters']} rater(s), {scores['all']['ratings']} rated samples, "
        f"{scores['items']} items ({scores['direction'].upper()}). Means and shares with "
        f"{scores['ci']}. Chen: Chen et al. 2017 Table 4 score (0-3); Wan: Wan et al. 2019 "
        "sec. 5.5.1 score (1-5); related: is the sample related to the item.", "",
        "| model | task | Chen (0-3) | Wan (1-5) | related | unrelated | cannot tell "
        "| ratings | raters |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for m in scores["models"]:
        shares = m["related"]["shares"]
        lines.append(f"| {m['model']} | {m['task'] or '(real pairs)'} | {_mean(m['chen'])} | "
                     f"{_mean(m['wan'])} | {_share(shares['related'])} | "
                     f"{_share(shares['unrelated'])} | {_share(shares['cannot_tell'])} | "
                     f"{m['ratings']} | {m['raters']} |")
    levels = {q: scores["all"][q]["alpha_level"] for q in ("chen", "wan", "related")}
    lines += [
        "", f"Agreement ({scores['agreement']}; n/a: undefined, fewer than two raters of a "
        "sample or one value throughout):", "",
        f"| model | alpha Chen ({levels['chen']}) | alpha Wan ({levels['wan']}) | "
        f"alpha related ({levels['related']}) |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for m in [*scores["models"], {"model": "all samples", **scores["all"]}]:
        lines.append(f"| {m['model']} | {_alpha(m['chen'])} | {_alpha(m['wan'])} | "
                     f"{_alpha(m['related'])} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line


@one_line_errors
def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m tfav.survey",
        description="A blind human evaluation of generator runs: make writes a static survey "
        "page (S2I: a sound and images for it; I2S: an image and sounds for it) and the key "
        "of its samples; score scores the answer files raters download from the page.",
        epilog="make writes DIR/page/ (give it to raters) and DIR/key.json (keep it); score "
        "writes DIR/scores.json and DIR/scores.md. Questions: Chen et al. 2017 Table 4 (0-3), "
        "Wan et al. 2019 sec. 5.5.1 (1-5), related / unrelated / cannot tell (after Wan "
        "sec. 5.5.2).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{make,score}")
    make = sub.add_parser("make", help="write the survey page and its key",
                          description="Write a blind survey of generator runs (all S2I or "
                          "all I2S, one dataset) as a static page in DIR/page/ and the key "
                          "of its samples in DIR/key.json.")
    make.add_argument("runs", nargs="+", metavar="RUN", help="run folders (python -m tfav.train)")
    make.add_argument("--out", required=True, metavar="DIR", help="the new survey folder")
    make.add_argument("--items", type=number_in(int, 1), default=ITEMS,
                      help=f"validation pairs to show (default {ITEMS})")
    make.add_argument("--seed", type=int, default=0,
                      help="picks the items and the noise (default 0)")
    make.add_argument("--draws", type=number_in(int, 1), default=DRAWS,
                      help=f"samples per run and item, each with its own noise (default {DRAWS})")
    make.add_argument("--checkpoint", choices=("last", "best"), default="last",
                      help="every run's last epoch (default) or its best.keras")
    make.add_argument("--vocoder", choices=("neural", "griffin-lim"), default="neural",
                      help="I2S: the neural vocoder (default; trained and cached the first "
                      "time) or Griffin-Lim")
    score = sub.add_parser("score", help="score downloaded answers",
                           description="Score the raters' answer files of a survey: per model "
                           "the mean scores and the related shares with 95% bootstrap "
                           "intervals over items, ratings, raters and Krippendorff's alpha; "
                           "writes DIR/scores.json and DIR/scores.md.")
    score.add_argument("dir", metavar="DIR", help="the survey folder (with key.json)")
    score.add_argument("answers", nargs="+", metavar="ANSWERS.json",
                       help="answer files downloaded from the page, one per rater")
    score.add_argument("--resamples", type=number_in(int, 100), default=RESAMPLES,
                       help=f"bootstrap resamples (default {RESAMPLES})")
    score.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    args = p.parse_args(argv)
    if args.command == "make":
        make_survey(args.runs, args.out, items=args.items, seed=args.seed, draws=args.draws,
                    checkpoint=args.checkpoint, vocoder=args.vocoder,
                    progress=sys.stderr.isatty())
    else:
        score_survey(args.dir, args.answers, resamples=args.resamples, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
