from svhn_xai.report.words import (
    a_digit,
    baselines,
    count,
    guessing_note,
    images_of,
    learnt_image_note,
    photos,
    probability,
    real_score_label,
    trained_on,
)


def test_every_digit_takes_the_article_it_is_spoken_with():
    assert [a_digit(d) for d in range(10)] == [
        "a 0", "a 1", "a 2", "a 3", "a 4", "a 5", "a 6", "a 7", "an 8", "a 9",
    ]  # fmt: skip


def test_a_count_agrees_with_its_noun():
    assert count(1, "image") == "1 image" and count(0, "image") == "0 images"
    assert count(2000, "image") == "2,000 images" and count(3, "pass", "passes") == "3 passes"


def test_photos_are_spoken_by_their_own_numbers():
    assert (
        photos("192:256") == "photos 193–256" and photos("0:64,128:192") == "photos 1–64, 129–192"
    )
    assert photos("256:") == "photos 257 on"


def test_a_fine_tuned_model_names_what_it_started_from():
    synthetic = {"data": "synthetic", "n_train": 64000}
    assert trained_on(synthetic) == "synthetic data (64,000 images)"
    tuned = {"data": "svhn", "indices": "0:192", "n_train": 8320, "init": {"provenance": synthetic}}
    assert trained_on(tuned) == (
        "svhn data (photos 1–192, 8,320 images an epoch), fine-tuned from a model trained on "
        "synthetic data (64,000 images)"
    )
    assert trained_on({}) == "? data"


def test_a_mix_says_what_an_epoch_holds_besides_the_photos():
    """The shipped model's provenance: 192 photos repeated to 4,224 images beside 2,048 of each
    kind added (4,224 + 2 x 2,048 = 8,320)."""
    mixed = {"data": "svhn", "indices": "0:192", "n_train": 8320, "mix_recomposed": 2048,
             "mix_synthetic": 2048}  # fmt: skip
    assert trained_on(mixed) == (
        "svhn data (photos 1–192 repeated to 4,224 images, with 2,048 house numbers recomposed "
        "from their digits and 2,048 synthetic ones: 8,320 images an epoch)"
    )


def test_the_generators_streams_are_not_read_as_svhns_splits():
    assert images_of("synthetic", "extra", "0:64") == (
        "synthetic house numbers 1–64 of the generator's extra stream"
    )
    assert images_of("svhn", "train", "0:64") == "SVHN train photos 1–64"
    assert images_of("svhn", "test", None) == "SVHN test photos"


def test_a_score_on_real_photos_says_which_and_whether_the_model_learnt_them():
    tuned = {"data": "svhn", "split": "train", "indices": "0:192"}  # as a card names them
    assert real_score_label({"indices": "192:256"}, tuned) == "Bal. acc., photos 193–256, held out"
    assert real_score_label({"indices": "0:64"}, tuned) == "Bal. acc., photos 1–64 (trained on)"
    synthetic = {"data": "synthetic"}
    assert real_score_label({"indices": "0:64"}, synthetic) == "Bal. acc., photos 1–64, held out"
    assert real_score_label({}, tuned) == "Bal. acc., real photos"


def test_an_image_the_model_learnt_is_said_to_be_one():
    tuned = {"data": "svhn", "split": "train", "indices": "0:192"}
    assert learnt_image_note(tuned, "svhn", "train", 0).startswith(
        "The model trained on this photo (it learnt from SVHN train photos 1–192)"
    )
    assert learnt_image_note(tuned, "svhn", "train", 191) is not None
    assert learnt_image_note(tuned, "svhn", "train", 192) is None, "photo 193 is held out"
    assert learnt_image_note(tuned, "svhn", "test", 0) is None, "another split"
    everything = {"data": "synthetic", "split": "train", "indices": None}
    assert (
        "this image (it learnt from synthetic house numbers of the generator's train stream)"
        in (learnt_image_note(everything, "synthetic", "train", 5))
    )


def test_a_probability_near_one_half_keeps_the_decimal_that_tells_its_side():
    assert probability(0.496) == "0.496" and probability(0.504) == "0.504"
    assert probability(0.4949) == "0.49" and probability(0.5051) == "0.51"
    assert probability(0.7) == "0.70" and probability(0.5) == "0.500"


def test_a_model_near_chance_is_said_to_guess_and_one_that_reads_is_not():
    assert guessing_note({"balanced_accuracy": 0.523}).startswith(
        "A balanced accuracy of 52.3% on held-out images is close to chance (50 %)"
    )
    assert guessing_note({"balanced_accuracy": 0.6}) is None  # the bar itself reads digits
    assert guessing_note({"balanced_accuracy": 0.99}) is None
    assert guessing_note({}) is None  # never scored: nothing to say


def test_the_baselines_are_named_by_whether_they_draw_at_random():
    assert baselines(drawn=False) == "whole image and centre gaussian"
    assert baselines(drawn=True) == "uniform random"
