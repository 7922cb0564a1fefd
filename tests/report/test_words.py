from svhn_xai.report.words import a_digit, count


def test_every_digit_takes_the_article_it_is_spoken_with():
    assert [a_digit(d) for d in range(10)] == [
        "a 0", "a 1", "a 2", "a 3", "a 4", "a 5", "a 6", "a 7", "an 8", "a 9",
    ]  # fmt: skip


def test_a_count_agrees_with_its_noun():
    assert count(1, "image") == "1 image" and count(0, "image") == "0 images"
    assert count(2000, "image") == "2,000 images" and count(3, "pass", "passes") == "3 passes"
