"""How a client's file name becomes the name shown and downloaded."""

from __future__ import annotations

import pytest

from files.services import sanitize_filename


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("  spaced name.txt  ", "spaced name.txt"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("dir/sub/", ""),
        ("..", ""),
        ("...", ""),
        (".env", ".env"),
        ("tab\there.csv", "tabhere.csv"),
        ("zero\u200bwidth.png", "zerowidth.png"),
        ("line\u2028break.txt", "linebreak.txt"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),
        ("日本語のファイル.pdf", "日本語のファイル.pdf"),
    ],
)
def test_sanitize_filename(raw, clean):
    assert sanitize_filename(raw) == clean


def test_long_names_are_cut_to_255_keeping_the_extension():
    name = sanitize_filename("a" * 300 + ".pdf")

    assert len(name) == 255
    assert name.endswith("a.pdf")


def test_long_names_with_a_long_extension_are_simply_cut():
    assert sanitize_filename("a." + "b" * 300) == ("a." + "b" * 300)[:255]
