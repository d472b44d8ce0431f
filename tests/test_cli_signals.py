"""SIGTERM turns into KeyboardInterrupt, except where Python would swallow it: then it is sent again."""

import sys

from siamese_text_cli import main


def test_a_frame_inside_del_is_recognised_and_an_ordinary_one_is_not():
    seen = {}

    class Probe:
        def __del__(self):
            seen["inside"] = main._inside_ignored_callback(sys._getframe())

    Probe()  # collected at once: __del__ runs here
    assert seen == {"inside": True}
    assert main._inside_ignored_callback(sys._getframe()) is False

