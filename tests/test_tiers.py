"""The tiers are enforced, not remembered: in a test not marked slow, starting a process, a server or a browser, or
building the whole app, fails at once with the reason (conftest.refuse_in_fast_tier)."""

import subprocess
import sys

import gradio as gr
import pytest

import playground.ui.app
from playground.registry import Registry

TIER = "in a test not marked slow: mark it @pytest.mark.slow"


def test_a_fast_test_cannot_start_a_process():
    with pytest.raises(AssertionError, match=TIER):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_a_fast_test_cannot_start_a_server():
    with gr.Blocks() as demo:
        gr.Markdown("x")
    with pytest.raises(AssertionError, match=TIER):
        demo.launch(prevent_thread_lock=True)


def test_a_fast_test_cannot_build_the_whole_app():
    with pytest.raises(AssertionError, match=TIER):
        playground.ui.app.build_app(Registry())


@pytest.mark.slow
def test_a_slow_test_may():
    assert subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout == "42\n"

