"""Wan et al. 2019, sec. 5.3 ("volume"), quantified: how what a generator draws moves when
its sound is played louder or softer.

For ``--sounds`` validation chunks of a run's data (its instrument), each scaled by every
gain of ``--gains`` (dB), the run's generator draws one image per chunk with the same noise
at every gain, and two numbers are read off each image: the pose regressor's
``dynamics`` (the loudness dimension of the embedded dataset's pose: how far the player
leans in) and the mean brightness of the image. Beside them:

- the real relation: over the validation pairs of that instrument, the least-squares
  slope of the true ``dynamics`` on the chunk's loudness (dBFS, ``labels.jsonl``),
  drawn as the change a gain of ``g`` dB would bring (``slope * g``);
- the ``pose_from_sound`` regressor's ``dynamics`` on the same scaled chunks: what a
  network trained to hear the pose reads from the same condition;
- how much the condition itself changes: the largest difference between the model's
  condition of a chunk at a gain and at 0 dB.

Chen et al.'s log-mel condition is normalised to each clip's peak
(``tfav.audio.normalize_log_mel``), so a gain leaves it unchanged but for the -80 dB
floor: with it, nothing the model sees carries the volume. The waveform-conditioned
models (``a2i_scene``, ``a2i_diverse``) hear it.

    python experiments/wan_volume.py RUN [--gains -18 -12 -6 0 6 12] [--sounds 64]

Writes ``experiments/results/wan_volume.{json,md}`` and ``wan_volume.png``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from results_io import RESULTS, write_results

from tfav import tasks
from tfav.data.pipeline import load_arrays, open_index
from tfav.runs import load_trained
from tfav.training import dependency
from tfav.visualize import line_plot


def markdown(result):
    lines = [f"# Wan et al. 2019 sec. 5.3, volume: {result['task']} ({result['instrument']})",
             "", f"Run `{result['run']}`; {result['sounds']} validation chunks, one noise per "
             "chunk at every gain. Real relation: slope of the true dynamics on the chunk's "
             f"loudness over the validation pairs, {result['real_slope_per_db']:.4f} per dB "
             f"(r = {result['real_r']:.2f}).", "",
             "| gain dB | generated dynamics | pose_from_sound dynamics | real relation | "
             "brightness | condition change (max) |", "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['gain_db']:+.0f} | {row['generated_dynamics']:.3f} | "
                     f"{row['sound_dynamics']:.3f} | {row['real_dynamics']:.3f} | "
                     f"{row['brightness']:.3f} | {row['condition_change']:.3g} |")
    lines += ["", f"Generated dynamics from -{abs(result['gains_db'][0]):g} to "
              f"+{result['gains_db'][-1]:g} dB: change {result['generated_span']:+.3f}; the "
              f"real relation: {result['real_span']:+.3f}.", "",
              "![volume](wan_volume.png)", "",
              f"Machine: {result['machine']}, {result['date_utc']} UTC.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--gains", type=float, nargs="+", default=[-18, -12, -6, 0, 6, 12])
    p.add_argument("--sounds", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    run = Path(args.run)
    config = json.loads((run / "config.json").read_text())
    task = tasks.get_task(config["task"])
    model = load_trained(run, task.name)
    index = open_index(config["data"])
    instrument = config.get("instrument")
    categories = [instrument] if instrument else None
    total = index.count("validation", categories)
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(total, min(args.sounds, total), replace=False))
    arrays = load_arrays(index, "validation", categories=categories, positions=chosen)
    pose = dependency("pose_regressor", config["data"], index, instrument=instrument)
    hear = dependency("pose_from_sound", config["data"], index, instrument=instrument)

    truth = [index.labels[tuple(i.decode().split("/", 2))]
             for i in load_arrays(index, "validation", categories=categories)["id"]]
    loud = np.array([t["loudness_dbfs"] for t in truth])
    dyn = np.array([t["pose"][2] for t in truth])
    slope, _ = np.polyfit(loud, dyn, 1)
    r = float(np.corrcoef(loud, dyn)[0, 1])

    condition = getattr(task, "condition", "lms")
    z = rng.standard_normal((len(chosen), model.z_dim)).astype(np.float32)
    base = tasks.sound_condition(arrays["waveform"], condition)
    rows = []
    for gain_db in sorted(args.gains):
        scaled = arrays["waveform"] * np.float32(10 ** (gain_db / 20))
        cond = tasks.sound_condition(scaled, condition)
        images = np.asarray(model.generate(cond, z=z))
        generated = float(np.mean(np.asarray(pose(images, training=False))[:, 2]))
        lms = tasks.log_mel(scaled)
        heard = float(np.mean(np.asarray(hear(lms, training=False))[:, 2]))
        rows.append({"gain_db": gain_db, "generated_dynamics": generated,
                     "sound_dynamics": heard,
                     "real_dynamics": float(np.mean(dyn) + slope * gain_db),
                     "brightness": float(np.mean(images)),
                     "condition_change": float(np.abs(cond - base).max())})
    xs = [r_["gain_db"] for r_ in rows]
    line_plot(RESULTS / "wan_volume.png", {
        "generated (pose regressor)": (xs, [r_["generated_dynamics"] for r_ in rows]),
        "pose_from_sound on the scaled sound": (xs, [r_["sound_dynamics"] for r_ in rows]),
        "real relation (dataset slope)": (xs, [r_["real_dynamics"] for r_ in rows]),
    }, f"Volume: {task.name} ({instrument}), dynamics vs gain", "gain (dB)",
        "dynamics (pose dimension 3)")
    write_results("wan_volume", {
        "run": str(run), "task": task.name, "instrument": instrument, "sounds": len(chosen),
        "gains_db": xs, "rows": rows, "real_slope_per_db": float(slope), "real_r": r,
        "generated_span": rows[-1]["generated_dynamics"] - rows[0]["generated_dynamics"],
        "real_span": rows[-1]["real_dynamics"] - rows[0]["real_dynamics"]}, markdown)


if __name__ == "__main__":
    main()
