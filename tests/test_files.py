import json
import os
import stat

from tfav import files


def test_atomic_write_leaves_no_temp_and_uses_the_usual_mode(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    files.atomic_write_bytes(target, b"one")
    files.atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_write_text_and_json_write_exactly_the_text(tmp_path):
    files.atomic_write_text(tmp_path / "a.md", "# héllo\n")
    assert (tmp_path / "a.md").read_bytes() == "# héllo\n".encode()
    obj = {"b": [1, 2], "a": 0.5}
    files.atomic_write_json(tmp_path / "x" / "a.json", obj)
    assert (tmp_path / "x" / "a.json").read_text() == json.dumps(obj, indent=1)
    files.atomic_write_json(tmp_path / "b.json", obj, indent=None)
    assert json.loads((tmp_path / "b.json").read_text()) == obj
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "b.json", "x"]
