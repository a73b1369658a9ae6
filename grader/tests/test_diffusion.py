"""Stride's diffusion model: the vocabulary, the dataset, the sampler, training and the shipped weights."""
import json
import os

import numpy as np
import pytest

from grader.diffusion import data, schedule, vocab
from grader.diffusion.vocab import PromptError, caption, parse_prompt
from grader.result import AnswerError

# ----------------------------------------------------------------------------- vocabulary


def test_captions_agree_with_the_fruits_gender():
    assert caption(0, 1) == "pomme verte"
    assert caption(3, 1) == "citron vert"
    assert caption(4, 3) == "cerise violette"
    assert caption(5, 3) == "raisin violet"
    assert caption(1, 4) == "banane orange"  # invariable colours stay as they are
    assert len({caption(f, c) for f, c in vocab.all_pairs()}) == 30


@pytest.mark.parametrize("pair", vocab.all_pairs())
def test_every_caption_parses_back_to_its_pair(pair):
    prompt = parse_prompt(caption(*pair))
    assert (prompt.fruit, prompt.colour) == pair
    assert np.array_equal(prompt.tokens, vocab.encode_pairs(np.array([pair[0]]), np.array([pair[1]]))[0])


@pytest.mark.parametrize("text", [
    "banane vert", "Une banane verte", "BANANE VERTE", "la  banane, verte !", "bananes vertes",
    "Banane verte.",
])
def test_case_articles_plural_and_agreement_fold_to_one_caption(text):
    assert parse_prompt(text).tokens == parse_prompt("banane verte").tokens


def test_accents_fold_away():
    assert parse_prompt("Cérise violette").tokens == parse_prompt("cerise violette").tokens
    assert parse_prompt("pômme rouge").tokens == parse_prompt("pomme rouge").tokens


def test_the_mean_over_tokens_makes_word_order_irrelevant_but_the_tokens_keep_it():
    assert sorted(parse_prompt("rouge pomme").tokens) == sorted(parse_prompt("pomme rouge").tokens)


def test_an_unknown_word_is_named_and_the_closest_known_word_suggested():
    with pytest.raises(PromptError) as caught:
        parse_prompt("pome rouge")
    message = caught.value.message
    assert "« pome »" in message["fr"] and "« pomme »" in message["fr"]
    assert "“pome”" in message["en"] and "Did you mean “pomme”?" in message["en"]
    assert "violette" in message["fr"]  # the known words are listed
    assert isinstance(caught.value, AnswerError)  # it costs the student no attempt


def test_an_unknown_word_with_no_close_match_is_named_without_a_guess():
    with pytest.raises(PromptError) as caught:
        parse_prompt("pomme bleue")
    assert "« bleue »" in caught.value.message["fr"]
    assert "Did you mean" not in caught.value.message["en"]


@pytest.mark.parametrize("text, words", [
    ("", "Écrivez un texte"), ("   \n ", "Écrivez un texte"),
    ("pomme rouge " * 7, "trop long"), (42, "chaîne"),
    ("pomme banane", "Un seul fruit"), ("pomme rouge verte", "Une seule couleur"),
    ("une la les", "aucun mot"),
])
def test_unusable_prompts_are_refused_with_a_reason(text, words):
    with pytest.raises(PromptError) as caught:
        parse_prompt(text)
    assert words in caught.value.message["fr"] and caught.value.message["en"]


def test_the_longest_prompt_allowed_passes():
    text = "une " + "pomme " * 11 + "rouge"
    assert len(text) <= vocab.MAX_PROMPT_CHARS
    assert parse_prompt(text).tokens == parse_prompt("pomme rouge").tokens


def test_null_tokens_are_the_empty_caption():
    null = vocab.null_tokens(3)
    assert null.shape == (3, vocab.MAX_TOKENS)
    assert (null[:, 0] == vocab.NULL).all() and (null[:, 1:] == vocab.PAD).all()


# ----------------------------------------------------------------------------- dataset


def test_held_out_pairs_are_absent_from_the_seen_pairs():
    seen = vocab.seen_pairs()
    assert len(vocab.all_pairs()) == 30 and len(seen) == 28
    assert vocab.HELD_OUT == {(2, 0), (5, 4)}
    assert not vocab.HELD_OUT & set(seen)
    assert {caption(*pair) for pair in vocab.HELD_OUT} == {"poire rouge", "raisin orange"}


def test_generate_is_deterministic_for_a_seed():
    a = data.generate(1100, seed=5, pairs=vocab.seen_pairs())  # more than one chunk
    b = data.generate(1100, seed=5, pairs=vocab.seen_pairs())
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert a[0].shape == (1100, 32, 32, 3) and a[0].dtype == np.uint8
    assert not np.array_equal(a[0], data.generate(1100, seed=6, pairs=vocab.seen_pairs())[0])


def test_generate_balances_the_pairs_it_is_given_and_no_other():
    images, fruits, colours = data.generate(28 * 5, seed=1, pairs=vocab.seen_pairs())
    counts = {}
    for pair in zip(fruits.tolist(), colours.tolist()):
        counts[pair] = counts.get(pair, 0) + 1
    assert counts == {pair: 5 for pair in vocab.seen_pairs()}
    assert not vocab.HELD_OUT & set(counts)
    _, fruits, colours = data.generate(61, seed=1)  # every pair by default
    assert set(zip(fruits.tolist(), colours.tolist())) == set(vocab.all_pairs())


def test_a_fruit_body_takes_its_captions_hue():
    rng = np.random.default_rng(0)
    colours = np.array([0, 1, 2, 3, 4])
    rgb = data.body_colours(rng, colours)
    red, green, yellow, purple, orange = rgb
    assert red[0] > 2 * red[1] and green[1] > green[0] and green[1] > green[2]
    assert yellow[0] > 2 * yellow[2] and yellow[1] > 2 * yellow[2]
    assert purple[2] > purple[1] and purple[0] > purple[1]
    assert orange[0] > orange[1] > orange[2]


# ----------------------------------------------------------------------------- schedule


def test_alpha_bar_falls_from_one_to_almost_zero():
    ab = schedule.alpha_bar(np.arange(-1, schedule.T))
    assert ab[0] == 1.0
    assert np.all(np.diff(ab) < 0)
    assert ab[-1] < 1e-5 and 0.98 < ab[1] < 1.0


def test_noisy_images_and_their_velocity_give_back_the_clean_image():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    t = np.array([0, 250, 700, 999])
    x_t, v = schedule.noisy(x0, t, eps)
    ab = schedule.alpha_bar(t)[:, None, None, None]
    np.testing.assert_allclose(np.sqrt(ab) * x_t - np.sqrt(1 - ab) * v, x0, atol=1e-5)


def test_timesteps_run_from_pure_noise_down_with_trailing_spacing():
    assert schedule.timesteps(1).tolist() == [999]
    assert schedule.timesteps(2).tolist() == [999, 499]
    times = schedule.timesteps(100)
    assert len(times) == 100 and times[0] == 999
    assert np.all(np.diff(times) < 0) and 0 <= times[-1] < 1000 // 100
    for steps in range(1, 101):
        assert len(set(schedule.timesteps(steps).tolist())) == steps
    for bad in (0, 101):
        with pytest.raises(ValueError):
            schedule.timesteps(bad)


def test_kept_steps_always_hold_the_first_and_the_last():
    assert schedule.kept_steps(5, 8) == [0, 1, 2, 3, 4]
    kept = schedule.kept_steps(50, 8)
    assert len(kept) == 8 and kept[0] == 0 and kept[-1] == 49


def _fake_predict_v(x, t, tokens):
    """A deterministic stand-in for the network that looks at each sample alone."""
    return 0.3 * x + (tokens[:, :1].astype(np.float32) * t)[:, :, None, None] * 0.05 - 0.1


def _sample(seeds, prompts, steps=10, guidance=3.0, **kwargs):
    tokens = np.array([parse_prompt(p).tokens for p in prompts], dtype=np.int32)
    return schedule.ddim_sample(_fake_predict_v, tokens, vocab.null_tokens(len(seeds)), seeds,
                                steps, np.full(len(seeds), guidance), **kwargs)


def test_ddim_is_deterministic_and_a_sample_does_not_depend_on_its_batch():
    alone, trajectory = _sample([7], ["pomme rouge"])
    again, _ = _sample([7], ["pomme rouge"])
    batched, batched_trajectory = _sample([3, 7, 11], ["citron jaune", "pomme rouge", "raisin vert"])
    np.testing.assert_array_equal(alone, again)
    np.testing.assert_array_equal(alone[0], batched[1])
    for one, many in zip(trajectory.x0, batched_trajectory.x0):
        np.testing.assert_array_equal(one[0], many[1])
    assert alone.shape == (1, 32, 32, 3) and alone.dtype == np.uint8
    assert not np.array_equal(batched[0], batched[1])  # another seed, another picture


def test_ddim_reports_each_step_and_keeps_the_frames_asked_for():
    calls = []
    _, trajectory = _sample([1, 2], ["pomme rouge"] * 2, steps=20, frames=4,
                            on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 20) for i in range(1, 21)]
    assert trajectory.steps == schedule.kept_steps(20, 4)
    assert len(trajectory.x_t) == len(trajectory.x0) == 4
    assert trajectory.x_t[0].shape == (2, 32, 32, 3)


def test_guidance_changes_the_picture_and_zero_guidance_ignores_the_caption():
    plain, _ = _sample([5], ["pomme rouge"], guidance=0.0)
    other, _ = _sample([5], ["raisin violet"], guidance=0.0)
    guided, _ = _sample([5], ["pomme rouge"], guidance=3.0)
    np.testing.assert_array_equal(plain, other)  # w = 0 is the empty caption alone
    assert not np.array_equal(plain, guided)


# ----------------------------------------------------------------------------- Keras: training

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("keras")


TINY = ["--steps", "3", "--batch", "4", "--images", "60", "--checkpoint-every", "2",
        "--warmup", "1", "--no-progress"]


@pytest.mark.keras
def test_training_stops_resumes_and_exports_weights_the_unet_loads(keras, tmp_path, capsys):
    from grader.diffusion import train
    from grader.diffusion.model import build_unet

    work, exported = tmp_path / "run", tmp_path / "weights"
    assert train.main(["--out", str(work), "--max-seconds", "0", *TINY]) == 0
    assert "stopped at step 1" in capsys.readouterr().out
    state = json.loads((work / train.CHECKPOINT / "state.json").read_text())
    assert state["step"] == 1

    with pytest.raises(SystemExit, match="other settings"):
        train.main(["--out", str(work), *TINY[:-1], "--batch", "8", "--no-progress"])

    assert train.main(["--out", str(work), "--export", str(exported), *TINY]) == 0
    out = capsys.readouterr().out
    assert "resumed from step 1" in out and "trained 3 steps" in out
    card = json.loads((exported / train.CARD_NAME).read_text())
    assert card["steps_done"] == 3 and card["config"]["batch"] == 4
    assert card["parameters"] == build_unet().count_params()
    assert (exported / train.LOSS_NAME).read_text().splitlines()[0] == "step,loss"

    model = build_unet()
    model.load_weights(exported / train.EXPORT_NAME)
    with np.load(work / train.CHECKPOINT / "ema.npz") as ema:
        for weight, i in zip(model.get_weights(), range(len(ema.files))):
            np.testing.assert_array_equal(weight, ema[f"arr_{i}"])


# ----------------------------------------------------------------------------- Keras: shipped weights

@pytest.fixture(scope="module")
def pipeline(keras):
    from grader.diffusion.pipeline import Pipeline

    return Pipeline()


@pytest.mark.keras
def test_the_shipped_model_draws_a_red_apple_the_judge_recognises(pipeline):
    from grader.diffusion.pipeline import Request

    generated = pipeline.generate([Request("pomme rouge", seed, 3.0) for seed in range(8)], 20)
    recognised = [g.recognition["caption"] == "pomme rouge" for g in generated]
    assert sum(recognised) >= 6, [g.recognition for g in generated]
    assert generated[0].image.shape == (32, 32, 3) and generated[0].image.dtype == np.uint8
    assert generated[0].steps_kept == schedule.kept_steps(20, 8)
    assert len(generated[0].x_t) == len(generated[0].x0) == 8


@pytest.mark.keras
def test_the_pipeline_refuses_an_unknown_word_and_bad_guidance(pipeline):
    from grader.diffusion.pipeline import Request

    with pytest.raises(PromptError, match="licorne"):
        pipeline.generate([Request("pomme rouge", 0, 3.0), Request("licorne rose", 1, 3.0)], 5)
    with pytest.raises(ValueError, match="guidance"):
        pipeline.generate([Request("pomme rouge", 0, 11.0)], 5)


@pytest.mark.keras
def _levels_apart(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_the_same_request_gives_the_same_pixels_on_the_same_worker(pipeline):
    from grader.diffusion.pipeline import Request

    request = Request("citron vert", 123, 2.5)
    [first], [again] = pipeline.generate([request], 20), pipeline.generate([request], 20)
    np.testing.assert_array_equal(first.image, again.image)
    for one, other in zip(first.x0, again.x0):
        np.testing.assert_array_equal(one, other)


def test_a_request_gives_the_same_picture_alone_or_batched_with_strangers(pipeline):
    """What is guaranteed: within one level per channel. The CPU's kernels may sum in another
    order for another batch size (on an AMD EPYC without AVX-512, two values of 3,072 of an
    intermediate frame moved by one level), so bit equality depends on the processor."""
    from grader.diffusion.pipeline import Request

    mine = Request("citron vert", 123, 2.5)
    [alone] = pipeline.generate([mine], 20)
    batched = pipeline.generate([Request("raisin violet", 9, 5.0), mine, Request("banane jaune", 4, 1.0)], 20)
    assert _levels_apart(alone.image, batched[1].image) <= 1
    for one, many in zip(alone.x0, batched[1].x0, strict=True):
        assert _levels_apart(one, many) <= 1
    assert alone.recognition["caption"] == batched[1].recognition["caption"]
    # A batch that mixed the requests' samples (or their order) is far outside that tolerance.
    for stranger in (batched[0], batched[2]):
        assert _levels_apart(alone.image, stranger.image) > 32
        assert np.abs(alone.image.astype(int) - stranger.image.astype(int)).mean() > 8


# ----------------------------------------------------------------------------- the report's arithmetic


def test_the_report_gives_each_prompt_its_own_seeds_and_counts_both_heads():
    from grader.diffusion import report

    seeds = [seed for index in range(30) for seed in report.prompt_seeds(index, 64)]
    assert len(set(seeds)) == 30 * 64
    readings = [{"fruit": 2, "colour": 0, "caption": "poire rouge"}] * 5 + [
        {"fruit": 0, "colour": 0, "caption": "pomme rouge"}] * 2 + [
        {"fruit": 2, "colour": 2, "caption": "poire jaune"}]
    tally = report.tally(readings, 2, 0)
    assert (tally["recognised"], tally["fruit"], tally["colour"]) == (0.625, 0.75, 0.875)
    assert tally["readings"][0] == ["poire rouge", 5]
    rows = [{"held_out": pair in vocab.HELD_OUT, "recognised": 1.0 if pair in vocab.HELD_OUT else 0.5,
             "fruit": 1.0, "colour": 1.0, "judge_on_real_images": 1.0, "prompt": caption(*pair),
             "readings": []} for pair in vocab.all_pairs()]
    means = report.averages(rows)
    assert means["seen"]["prompts"] == 28 and means["seen"]["recognised"] == 0.5
    assert means["held_out"] == {"prompts": 2, "recognised": 1.0, "fruit": 1.0, "colour": 1.0,
                                 "judge_on_real_images": 1.0}


def test_the_report_finds_where_training_stopped_and_resumed(tmp_path):
    from grader.diffusion import report

    log = tmp_path / "train.log"
    log.write_text("stopped at step 12002 after 420 s\nresumed from step 12002\n"
                   "stopped at step 17907 after 240 s\n")
    assert report.interruptions(log) == [12002]
    assert report.interruptions(tmp_path / "missing.log") == []
