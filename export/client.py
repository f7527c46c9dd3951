"""Send half a second of a sound file to a TF Serving S2I model and save the image it returns.

    python export/client.py violin.wav violin.png --server http://localhost:8501 \
        --model s2i_instrument --seed 3

Needs only numpy, soundfile, Pillow and the standard library (scipy too when the
file is not at 44.1 kHz). It speaks the TF Serving REST API
(``POST /v1/models/<model>[/versions/<n>]:predict``) to a model exported by
``python -m tfav.export``, whose ``serving_default`` signature takes
``waveform`` (float32 [batch, samples], mono, 44.1 kHz, first 0.5 s used) and
``seed`` (int64 [batch]) and returns ``image`` (uint8 [batch, 64, 64, 3]).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.error
import urllib.request

import numpy as np

SAMPLE_RATE = 44100
CHUNK_SAMPLES = 22050  # 0.5 s: what the model looks at


def read_waveform(path, offset=0.0):
    """The 0.5 s of ``path`` starting at ``offset`` seconds: float32 mono at 44.1 kHz.

    Channels are averaged; other sampling rates are resampled with
    ``scipy.signal.resample_poly``. Shorter clips are zero-padded (as the
    server would do).
    """
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if data.shape[0] == 0:
        raise ValueError(f"{path}: the file has no audio frames")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        import scipy.signal

        g = math.gcd(int(rate), SAMPLE_RATE)
        mono = scipy.signal.resample_poly(mono, SAMPLE_RATE // g, int(rate) // g)
    start = int(round(offset * SAMPLE_RATE))
    if start >= len(mono):
        length = len(mono) / SAMPLE_RATE
        raise ValueError(f"{path}: offset {offset} s is past the end ({length:.2f} s)")
    chunk = np.zeros(CHUNK_SAMPLES, np.float32)
    piece = mono[start : start + CHUNK_SAMPLES]
    chunk[: len(piece)] = piece
    return chunk


def _floats(x):
    # 9 significant digits give back exactly the same float32 on the server.
    return [float(f"{v:.9g}") for v in np.asarray(x, np.float32).ravel()]


def request_body(waveforms, seeds=0, columnar=False, signature_name="serving_default"):
    """The JSON body of a ``:predict`` request for one or more 0.5 s waveforms.

    Args:
        waveforms: ``[samples]`` or ``[batch, samples]`` float32 at 44.1 kHz.
        seeds: one int for all examples or one per example.
        columnar: the ``"inputs"`` (column) form instead of ``"instances"`` (rows).
        signature_name: the signature to call.

    Returns:
        A dict to send as JSON.
    """
    waveforms = np.atleast_2d(np.asarray(waveforms, np.float32))
    seeds = np.broadcast_to(np.asarray(seeds, np.int64), (len(waveforms),))
    rows = [_floats(w) for w in waveforms]
    body = {"signature_name": signature_name}
    if columnar:
        body["inputs"] = {"waveform": rows, "seed": [int(s) for s in seeds]}
    else:
        body["instances"] = [
            {"waveform": w, "seed": int(s)} for w, s in zip(rows, seeds, strict=True)
        ]
    return body


def predict_url(server, model, version=None):
    """``<server>/v1/models/<model>[/versions/<version>]:predict``."""
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "")
    return server.rstrip("/") + path + ":predict"


def predict(url, body, timeout=60.0):
    """POST ``body`` as JSON; the decoded response (raises RuntimeError with the server's error)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise RuntimeError(f"{url}: HTTP {e.code}: {detail}") from None


def images_from_response(response):
    """uint8 ``[batch, 64, 64, 3]`` from a row (``predictions``) or column (``outputs``) answer."""
    if "predictions" in response:
        rows = response["predictions"]
        images = [row["image"] if isinstance(row, dict) else row for row in rows]
    else:
        outputs = response["outputs"]
        images = outputs["image"] if isinstance(outputs, dict) else outputs
    return np.clip(np.rint(np.asarray(images, np.float64)), 0, 255).astype(np.uint8)


def save_png(image, path):
    from PIL import Image

    Image.fromarray(np.asarray(image, np.uint8)).save(str(path), format="PNG")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("audio", help="WAV/FLAC/OGG file (any rate and channels)")
    p.add_argument("png", nargs="?", default="out.png", help="output image (default out.png)")
    p.add_argument("--server", default="http://localhost:8501", help="TF Serving REST address")
    p.add_argument("--model", default="s2i_instrument", help="model name in models.config")
    p.add_argument("--version", type=int, help="model version (default: the server's latest)")
    p.add_argument("--seed", type=int, default=0, help="noise seed: same seed, same image")
    p.add_argument("--offset", type=float, default=0.0, help="start of the half second, in s")
    p.add_argument("--columnar", action="store_true", help='send the "inputs" form')
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--dump-request", metavar="JSON",
                   help="write the request body to this file (for curl) instead of sending it")
    args = p.parse_args(argv)
    try:
        waveform = read_waveform(args.audio, args.offset)
        body = request_body(waveform, args.seed, columnar=args.columnar)
        if args.dump_request:
            with open(args.dump_request, "w", encoding="utf-8") as f:
                json.dump(body, f)
            print(f"wrote {args.dump_request}")
            return 0
        response = predict(predict_url(args.server, args.model, args.version), body, args.timeout)
        save_png(images_from_response(response)[0], args.png)
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
