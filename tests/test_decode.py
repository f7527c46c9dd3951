import numpy as np
import soundfile

from tfav.data import decode


def test_find_undecodable_names_the_file_with_a_corrupt_body(tiny_pairs):
    assert decode.find_undecodable(tiny_pairs, "train") is None
    # NaN samples in a float WAV (decoded through soundfile): the header is fine.
    wav = tiny_pairs / "chunk" / "validation" / "violin" / "violin01_500.wav"
    soundfile.write(wav, np.full(22050, np.nan, np.float32), 44100, subtype="FLOAT")
    found = decode.find_undecodable(tiny_pairs, "validation")
    assert found == f"{wav}: cannot be decoded (audio contains NaN or Inf samples)"
