"""Stream chunks are merged into lines; install/uninstall nests and restores streams."""

from __future__ import annotations

import sys

from nbflow import capture


def test_chunks_become_lines():
    buf = [(1.0, "stdout", "INFO", "a"), (1.1, "stdout", "INFO", "b\n"), (1.2, "log", "INFO", "x: y"),
           (1.3, "stdout", "INFO", "tail")]
    assert capture.join_chunks(buf) == [
        (1.0, "stdout", "INFO", "ab"), (1.2, "log", "INFO", "x: y"), (1.3, "stdout", "INFO", "tail"),
    ]


def test_install_nests_and_restores():
    before = sys.stdout
    capture.install()
    capture.install()
    assert sys.stdout is not before
    capture.uninstall()
    assert sys.stdout is not before
    capture.uninstall()
    assert sys.stdout is before


def test_only_the_current_threads_buffer_receives_output():
    buf: list = []
    capture.install()
    try:
        prev = capture.set_buffer(buf)
        print("inside")
        capture.set_buffer(prev)
        print("outside")
    finally:
        capture.uninstall()
    assert [text for _, _, _, text in capture.join_chunks(buf)] == ["inside"]
