from svhn_xai.report.words import a_digit, count, photos, trained_on


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
