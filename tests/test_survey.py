"""The human-evaluation kit (``python -m tfav.survey``): a blind static page made from
tiny runs, answered in a real headless browser, and the scores of the answers."""

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_tiny_pairs
from PIL import Image

from tfav import survey
from tfav.models import discriminators, encoders, generators
from tfav.objectives import ConditionalGAN
from tfav.objectives.gan_cls import ChenHyper
from tfav.training import train

TINY = ChenHyper(base_filters=8, z_dim=16)
#: What the tests answer for each model's samples: (chen, wan, related) by draw.
PLAN = {"real": [(3, 5, "related")], 0: [(1, 2, "unrelated"), (2, 3, "cannot_tell")],
        1: [(0, 1, "unrelated")]}
#: The 1.25 s of a survey WAV: the chunk twice with 0.25 s of silence between.
WAV_FRAMES = 2 * 22050 + 11025


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("survey")


@pytest.fixture(scope="module")
def s2i_runs(work):
    """Two tiny S2I runs of one dataset (S2I-C and S2I-N, one epoch each): (pairs, runs)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFAV_CACHE", str(work / "cache"))  # nothing may touch the user's cache
        pairs = write_tiny_pairs(work / "pairs")
        encoder = train("sound_encoder", data=pairs, epochs=1, batch_size=4,
                        out=work / "encoder", verbose=0)
        runs = [train(task, data=pairs, epochs=1, batch_size=4, out=work / name, hyper=TINY,
                      verbose=0, encoders={"sound_encoder": encoder}, evaluate=False)
                for task, name in (("s2i_instrument", "run_alpha"), ("s2i_noneg", "run_beta"))]
    return pairs, runs


@pytest.fixture(scope="module")
def s2i_survey(work, s2i_runs):
    _, runs = s2i_runs
    out = work / "survey_s2i"
    assert survey.main(["make", *map(str, runs), "--out", str(out), "--items", "4",
                        "--seed", "1"]) == 0
    return out


def fresh_copy(folder, tmp_path) -> Path:
    """A copy of a survey folder for one test to score (scoring writes into it)."""
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def planned_answers(key) -> dict:
    """``{sample: {question: value}}`` by :data:`PLAN`: models in the key's order."""
    labels = [m for m in key["models"] if m != survey.REAL]
    answers = {}
    for sample, where in key["samples"].items():
        plan = PLAN["real"] if where["model"] == survey.REAL else PLAN[labels.index(
            where["model"])]
        chen, wan, related = plan[min(where["draw"] or 0, len(plan) - 1)]
        answers[sample] = {"chen": chen, "wan": wan, "related": related}
    return answers


def answers_file(path, key, answers, token="rater-one", survey_id=None) -> Path:
    path.write_text(json.dumps({
        "format": survey.ANSWERS_FORMAT, "version": 1, "survey": survey_id or key["survey"],
        "rater": token, "rater_token": token, "answers": answers}))
    return path


def one_line_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        survey.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


# --------------------------------------------------------------------------- statistics


def _units(matrix):
    """Reliability data (raters x units, NaN: no rating) -> the values of each unit."""
    m = np.asarray(matrix, float)
    return [[v for v in column if not np.isnan(v)] for column in m.T]


def test_krippendorff_alpha_matches_published_and_hand_computed_examples():
    nan = np.nan
    # Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability", sec. C: 4 observers,
    # 12 units, missing values; published alphas nominal .743, ordinal .815, interval .849.
    k2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
             [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
             [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
             [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    assert survey.krippendorff_alpha(_units(k2011), "nominal") == pytest.approx(0.743, abs=5e-4)
    assert survey.krippendorff_alpha(_units(k2011), "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert survey.krippendorff_alpha(_units(k2011), "interval") == pytest.approx(0.849, abs=5e-4)
    # Wikipedia's "A computational example" (3 coders, 15 units): nominal 0.691, interval 0.811.
    wiki = [[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
            [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
            [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]]
    assert survey.krippendorff_alpha(_units(wiki), "nominal") == pytest.approx(0.691358, abs=1e-6)
    assert survey.krippendorff_alpha(_units(wiki), "interval") == pytest.approx(0.810845,
                                                                                abs=1e-6)
    # By hand: units (a, a), (a, b), (b, b). Coincidences o_aa = 2, o_ab = o_ba = 1, o_bb = 2;
    # n_a = n_b = 3, n = 6; alpha = 1 - (n - 1) * (o_ab + o_ba) / (n_a n_b + n_b n_a)
    # = 1 - 5 * 2 / 18 = 4/9. With two values the interval and ordinal metrics are 1 and
    # (n_a + n_b - (n_a + n_b) / 2)^2 = 9 everywhere off the diagonal: the same 4/9.
    units = [["a", "a"], ["a", "b"], ["b", "b"]]
    assert survey.krippendorff_alpha(units, "nominal") == pytest.approx(4 / 9)
    numeric = [[1, 1], [1, 2], [2, 2]]
    for level in ("interval", "ordinal"):
        assert survey.krippendorff_alpha(numeric, level) == pytest.approx(4 / 9)
    # Perfect agreement; undefined without a pairable unit or with one value throughout.
    assert survey.krippendorff_alpha([[1, 1], [3, 3, 3], [2]], "interval") == 1.0
    assert survey.krippendorff_alpha([[1], [2]], "nominal") is None
    assert survey.krippendorff_alpha([[2, 2], [2, 2]], "ordinal") is None
    with pytest.raises(ValueError, match="level"):
        survey.krippendorff_alpha(units, "ratio")


def test_bootstrap_interval_over_items():
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 1.0, 400)
    weights = survey.bootstrap_weights(len(values), 2000, seed=0)
    mean, (low, high) = survey.ratio_ci(values, np.ones_like(values), weights)
    assert mean == pytest.approx(values.mean())
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))  # the normal approximation
    assert low < mean < high and (high - low) / 2 == pytest.approx(half, rel=0.1)
    # Items with the same mean: no spread; several ratings of an item move together.
    assert survey.ratio_ci([4, 4, 4], [2, 2, 2], weights[:, :3]) == (2.0, [2.0, 2.0])
    assert survey.ratio_ci([0, 0], [0, 0], weights[:, :2]) == (None, None)


# --------------------------------------------------------------------------- make


@pytest.mark.slow
def test_make_writes_a_blind_page_and_a_key_of_every_sample(s2i_runs, s2i_survey):
    pairs, runs = s2i_runs
    key = json.loads((s2i_survey / survey.KEY).read_text())
    assert key["direction"] == "s2i" and key["draws"] == 2 and len(key["items"]) == 4
    assert list(key["models"]) == [*map(str, runs), survey.REAL]
    assert [m["task"] for m in key["models"].values()] == ["s2i_instrument", "s2i_noneg", None]
    page = s2i_survey / survey.PAGE
    html = (page / "index.html").read_text()
    data = json.loads(html.split('type="application/json">')[1].split("</script>")[0])
    shown = {s["id"]: (item["id"], s) for item in data["items"] for s in item["samples"]}
    assert set(shown) == set(key["samples"]) and len(shown) == 4 * (2 * 2 + 1)
    for sample, where in key["samples"].items():
        assert shown[sample][0] == where["item"]
        assert set(shown[sample][1]) == {"id", "media"}  # nothing tells one model from another
    for item, spec in key["items"].items():
        models = [w["model"] for w in key["samples"].values() if w["item"] == item]
        assert sorted(models, key=str) == sorted([*map(str, runs)] * 2 + ["real"], key=str)
        assert spec["category"] in ("cello", "flute", "violin")
    # Media: opaque names only; 64 px images; the sound as 16-bit 44.1 kHz WAV, twice.
    media = sorted(p.name for p in (page / "media").iterdir())
    assert media == sorted([f"{s}.png" for s in key["samples"]]
                           + [Path(i["stimulus"]).name for i in key["items"].values()])
    image = Image.open(page / shown[next(iter(shown))][1]["media"])
    assert image.size == (64, 64) and image.mode == "RGB"
    info = sf.info(page / next(iter(key["items"].values()))["stimulus"])
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (
        44100, 1, "PCM_16", WAV_FRAMES)
    # The two draws of a run differ (own noise each).
    first = [s for s, w in key["samples"].items() if w["model"] == str(runs[0])
             and w["item"] == "i1"]
    a, b = (np.asarray(Image.open(page / "media" / f"{s}.png"), float) for s in first)
    assert np.abs(a - b).max() > 0
    # Blind: no page file names a run, a task, the data or a pair; nothing from the network.
    secrets = [str(r) for r in runs] + [r.name for r in runs] + [
        str(pairs), "s2i_instrument", "s2i_noneg", "validation/", "01_"]
    for path in page.rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            text = path.suffix in (".html", ".js")  # short names could occur in a PNG by chance
            for secret in secrets:
                if text or len(secret) >= 8:
                    assert secret.encode() not in body, (path, secret)
    for text in (html, (page / "survey.js").read_text()):
        assert "http:" not in text and "https:" not in text and "//cdn" not in text
    assert "key.json" not in html and "key.json" not in (page / "survey.js").read_text()


@pytest.mark.slow
def test_make_refuses_runs_that_do_not_go_together(s2i_runs, s2i_survey, tmp_path, capsys):
    pairs, runs = s2i_runs
    i2s = tmp_path / "i2s_run"
    i2s.mkdir()
    (i2s / "config.json").write_text(json.dumps({"task": "i2s", "data": str(pairs)}))
    other = tmp_path / "other_data_run"
    other.mkdir()
    config = json.loads((runs[0] / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "data": str(tmp_path)}))
    out = ["--out", str(tmp_path / "new")]
    cases = [
        ([str(runs[0]), str(i2s)], "a survey compares runs that go one way"),
        ([str(runs[0]), str(other)], "trained with data"),
        ([str(runs[0]), str(runs[0])], "give each run once"),
        ([str(runs[0]), str(tmp_path / "nowhere")], "no such run folder"),
        ([str(pairs)], "not a run folder (no config.json)"),
    ]
    for run_args, message in cases:
        assert message in one_line_error(capsys, ["make", *run_args, *out]), message
    # An existing survey is never overwritten.
    before = (s2i_survey / survey.KEY).read_bytes()
    err = one_line_error(capsys, ["make", str(runs[0]), "--out", str(s2i_survey)])
    assert str(s2i_survey) in err and "not an empty folder" in err
    assert (s2i_survey / survey.KEY).read_bytes() == before
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new.*"))


@pytest.mark.slow
def test_i2s_survey_shows_the_frame_and_plays_generated_sounds(s2i_runs, tmp_path):
    pairs, _ = s2i_runs
    generator = generators.image_to_sound_generator(z_dim=8, base_filters=4, extra_conv_layers=1)
    discriminator = discriminators.image_to_sound_discriminator(base_filters=4, extra_conv_layers=0)
    encoder = encoders.encoder_from_classifier(encoders.image_classifier(3, base_filters=4))
    gan = ConditionalGAN(generator, discriminator, encoder, z_dim=8, seed=0)
    run = tmp_path / "i2s_run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "i2s", "data": str(pairs),
                                                 "instrument": None}))
    gan.save(run / "checkpoint.keras")
    out = tmp_path / "survey_i2s"
    key = survey.make_survey([run], out, items=2, draws=1, vocoder="griffin-lim",
                             progress=False, log=lambda *a: None)
    assert key["direction"] == "i2s" and len(key["samples"]) == 2 * (1 + 1)
    html = (out / survey.PAGE / "index.html").read_text()
    assert "Is this sound related to the image?" in html
    for item in key["items"].values():
        assert Image.open(out / survey.PAGE / item["stimulus"]).size == (64, 64)
    for sample in key["samples"]:
        wave, rate = sf.read(out / survey.PAGE / "media" / f"{sample}.wav")
        assert rate == 44100 and len(wave) == WAV_FRAMES
        assert 0.85 < np.abs(wave).max() < 0.95  # every sound at the same 0.9 peak
        assert sf.info(out / survey.PAGE / "media" / f"{sample}.wav").subtype == "PCM_16"


# --------------------------------------------------------------------------- score


@pytest.mark.slow
def test_scores_of_two_raters(s2i_survey, tmp_path, capsys):
    folder = fresh_copy(s2i_survey, tmp_path)
    key = json.loads((folder / survey.KEY).read_text())
    one = planned_answers(key)
    two = json.loads(json.dumps(one))
    alpha_run = next(iter(key["models"]))
    for sample, where in key["samples"].items():
        if where["model"] == alpha_run:
            two[sample]["chen"] = 2  # the second rater gives 2 to both draws
    files = [answers_file(tmp_path / "a.json", key, one, "rater-one"),
             answers_file(tmp_path / "b.json", key, two, "rater-two")]
    assert survey.main(["score", str(folder), *map(str, files)]) == 0
    printed = capsys.readouterr().out
    scores = json.loads((folder / "scores.json").read_text())
    assert (folder / "scores.md").read_text().strip() == printed.strip()
    rows = {m["model"]: m for m in scores["models"]}
    beta_run = list(key["models"])[1]
    assert scores["raters"] == 2 and scores["items"] == 4
    assert rows["real"]["chen"]["mean"] == 3 and rows["real"]["wan"]["ci"] == [5.0, 5.0]
    assert rows[alpha_run]["chen"]["mean"] == pytest.approx((1 + 2 + 2 + 2) / 4)
    assert rows[alpha_run]["wan"]["mean"] == pytest.approx(2.5)
    assert rows[alpha_run]["chen"]["ci"] == pytest.approx([1.75, 1.75])  # same on every item
    shares = rows[alpha_run]["related"]["shares"]
    assert shares["unrelated"]["share"] == shares["cannot_tell"]["share"] == 0.5
    assert shares["related"]["share"] == 0.0
    assert rows[beta_run]["chen"]["mean"] == 0 and rows[beta_run]["wan"]["mean"] == 1
    assert rows[beta_run]["related"]["shares"]["unrelated"]["ci"] == [1.0, 1.0]
    assert rows["real"]["ratings"] == 4 * 2 and rows[alpha_run]["ratings"] == 4 * 2 * 2
    assert rows[alpha_run]["chen"]["n"] == 16 and rows[alpha_run]["raters"] == 2
    # Agreement: the raters agree on everything but the chen scores of one run's draw 0.
    for q, level in (("chen", "ordinal"), ("wan", "interval"), ("related", "nominal")):
        units = [[a[s][q] for a in (one, two)] for s in key["samples"]]
        assert scores["all"][q]["alpha"] == pytest.approx(
            survey.krippendorff_alpha(units, level))
        assert scores["all"][q]["alpha_level"] == level
    assert scores["all"]["wan"]["alpha"] == 1.0 and 0 < scores["all"]["chen"]["alpha"] < 1
    assert rows["real"]["chen"]["alpha"] is None  # one value throughout: undefined
    assert f"| {alpha_run} | s2i_instrument | 1.75 [1.75, 1.75] | 2.50 [2.50, 2.50] | 0% " \
           "[0%, 0%] | 50% [50%, 50%] | 50% [50%, 50%] | 16 | 2 |" in printed
    assert "| real | (real pairs) | 3.00 [3.00, 3.00] | 5.00 [5.00, 5.00] | 100%" in printed


@pytest.mark.slow
def test_score_errors_name_the_file_in_one_line(s2i_survey, tmp_path, capsys):
    folder = fresh_copy(s2i_survey, tmp_path)
    key = json.loads((folder / survey.KEY).read_text())
    good = answers_file(tmp_path / "good.json", key, planned_answers(key))
    sample = next(iter(key["samples"]))
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "tfav-survey-answers", ')
    not_answers = tmp_path / "key_copy.json"
    shutil.copy(folder / survey.KEY, not_answers)
    cases = [
        (broken, "not valid JSON"),
        (answers_file(tmp_path / "other.json", key, {}, survey_id="0123456789abcdef"),
         "answers for another survey"),
        (answers_file(tmp_path / "unknown.json", key, {"feedbeef00": {"chen": 1}}),
         "sample 'feedbeef00' is not in this survey"),
        (answers_file(tmp_path / "value.json", key, {sample: {"chen": 7}}),
         "chen must be one of 0, 1, 2, 3, got 7"),
        (answers_file(tmp_path / "bool.json", key, {sample: {"wan": True}}), "wan must be"),
        (answers_file(tmp_path / "question.json", key, {sample: {"colour": 1}}),
         "unknown question 'colour'"),
        (tmp_path / "missing.json", "no such file"),
        (not_answers, "not a survey answers file"),
    ]
    for path, message in cases:
        err = one_line_error(capsys, ["score", str(folder), str(good), str(path)])
        assert str(path) in err and message in err, (err, message)
    twice = answers_file(tmp_path / "again.json", key, {sample: {"chen": 1}})
    err = one_line_error(capsys, ["score", str(folder), str(good), str(twice)])
    assert "the same rater" in err and str(good) in err
    empty = answers_file(tmp_path / "empty.json", key, {})
    assert "no answers" in one_line_error(capsys, ["score", str(folder), str(empty)])
    # A folder without its key: the page alone cannot be scored.
    (folder / survey.KEY).unlink()
    err = one_line_error(capsys, ["score", str(folder), str(good)])
    assert f"{folder}: no key.json" in err
    assert "no such survey folder" in one_line_error(
        capsys, ["score", str(tmp_path / "nowhere"), str(good)])
    assert not (folder / "scores.json").exists()


def test_help_names_the_commands_and_the_questions(capsys):
    with pytest.raises(SystemExit) as e:
        survey.main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "make" in text and "score" in text and "Chen et al. 2017 Table 4" in text


# --------------------------------------------------------------------------- browser

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _browser(downloads: Path):
    """Headless Debian chromium driven by selenium, downloads to ``downloads``."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("no chromium/chromedriver: apt-get install chromium chromium-driver "
                    "(and pip install selenium)")
    if not (CHROMIUM.exists() and (CHROMEDRIVER.exists() or shutil.which("chromedriver"))):
        pytest.skip("no chromium/chromedriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="tfav-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "download.directory_upgrade": True})
    driver_path = str(CHROMEDRIVER) if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    return driver, profile


@pytest.mark.slow
def test_a_rater_answers_in_a_real_browser_and_the_download_scores(s2i_survey, tmp_path,
                                                                   capsys):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver, profile = _browser(downloads)
    from selenium.webdriver.common.by import By

    folder = fresh_copy(s2i_survey, tmp_path)
    key = json.loads((folder / survey.KEY).read_text())
    plan = planned_answers(key)
    try:
        page = (folder / survey.PAGE / "index.html").as_uri()
        driver.get(page)
        driver.find_element(By.ID, "rater").send_keys("tester")
        for sample, answers in plan.items():
            for question, value in answers.items():
                radio = driver.find_element(
                    By.CSS_SELECTOR, f'input[name="{sample}:{question}"][value="{value}"]')
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", radio)
                radio.click()
                assert radio.is_selected()
        progress = driver.find_element(By.ID, "progress").text
        assert progress.startswith(f"{3 * len(plan)} of {3 * len(plan)} answers given"), progress
        assert len(driver.find_elements(By.CSS_SELECTOR, ".sample.done")) == len(plan)
        # The page asked for its own files only (Chrome's network log).
        requested = [m["params"]["request"]["url"] for m in (
            json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
            if m["method"] == "Network.requestWillBeSent"
            and m["params"].get("documentURL") == page]
        assert any(url.endswith("survey.js") for url in requested), requested
        outside = [u for u in requested if not u.startswith(page.rsplit("/", 1)[0] + "/")
                   and not u.startswith("data:")]  # the audio controls' own icons
        assert not outside, outside
        button = driver.find_element(By.ID, "download")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        deadline = time.monotonic() + 30
        while not list(downloads.glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        files = list(downloads.glob("*.json"))
        assert len(files) == 1, list(downloads.iterdir())
        # The answers survive a reload (kept in the browser until downloaded again).
        driver.refresh()
        checked = driver.execute_script(
            "return document.querySelectorAll('input[type=radio]:checked').length")
        assert checked == 3 * len(plan)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    downloaded = json.loads(files[0].read_text())
    assert files[0].name == f"answers-{key['survey']}-tester.json"
    assert downloaded["rater"] == "tester" and downloaded["answers"] == plan
    assert survey.main(["score", str(folder), str(files[0])]) == 0
    rows = {m["model"]: m for m in json.loads((folder / "scores.json").read_text())["models"]}
    alpha_run, beta_run = list(key["models"])[:2]
    assert rows["real"]["chen"]["mean"] == 3 and rows["real"]["wan"]["mean"] == 5
    assert rows["real"]["related"]["shares"]["related"]["share"] == 1.0
    assert rows[alpha_run]["chen"]["mean"] == 1.5 and rows[alpha_run]["wan"]["mean"] == 2.5
    assert rows[alpha_run]["related"]["shares"]["cannot_tell"]["share"] == 0.5
    assert rows[beta_run]["chen"]["mean"] == 0 and rows[beta_run]["wan"]["mean"] == 1
    assert rows[beta_run]["ratings"] == 4 * 2 and rows[beta_run]["raters"] == 1
    assert rows[beta_run]["chen"]["alpha"] is None  # one rater: no agreement to measure
    assert "| real | (real pairs) | 3.00 [3.00, 3.00] |" in capsys.readouterr().out
