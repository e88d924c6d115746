"""The lab's live picture: the page's script asks ``lab_frame`` (a server function, not a queued event) for each
frame by the session's token. One request steps the runs once and returns their pictures; nothing runs unasked."""

import gc
import xml.etree.ElementTree as ET

import pytest

from playground.lab import LabSession
from playground.ui.lab_tab import LIVE, lab_frame, live_html


@pytest.fixture
def session(registry):
    sess = LabSession.create(registry, "gan2d", {"batch_size": 64}, ["nonsaturating", "hinge"])
    LIVE[sess.token] = sess
    return sess


def _svgs(html: str) -> list[ET.Element]:
    root = ET.fromstring(f"<div>{html}</div>")
    return [e for e in root.iter() if e.tag.endswith("svg")]


def test_a_frame_request_steps_a_running_session_once_and_returns_both_pictures(session):
    assert lab_frame(session.token) == {"running": False}  # paused: nothing is stepped
    assert session.runs[0].steps == 0
    session.running, session.steps_per_frame = True, 3
    reply = lab_frame(session.token)
    assert reply["running"] is True and [r.steps for r in session.runs] == [3, 3]
    titles = [next(t for t in svg.iter() if t.tag.endswith("text")).text for svg in _svgs(reply["html"])]
    assert titles == ["A: nonsaturating · D 3 · G 3", "B: hinge · D 3 · G 3"]
    lab_frame(session.token)
    assert [r.steps for r in session.runs] == [6, 6]


def test_the_holder_carries_the_token_and_unknown_or_dropped_sessions_get_nothing(registry, session):
    html = live_html(session)
    assert f'data-lab-token="{session.token}"' in html and len(_svgs(html)) == 2
    assert len(session.token) >= 20  # unguessable: another visitor cannot drive this session
    assert lab_frame("not-a-token") == {"running": False}
    other = LabSession.create(registry, "gan2d", {"batch_size": 64})
    other.running, token = True, other.token
    LIVE[token] = other
    del other
    gc.collect()
    assert lab_frame(token) == {"running": False}  # the page's gr.State let it go: so does the frame server


def test_a_plugin_that_raises_stops_the_live_run_and_says_why(session, monkeypatch):
    fam = session.runs[0].family

    def broken(*args, **kwargs):
        raise RuntimeError("boom in train_step")

    monkeypatch.setattr(type(fam), "train_step", broken)
    session.running = True
    assert lab_frame(session.token) == {"running": False}
    assert not session.running and "boom in train_step" in session.stopped_by
    assert [r.steps for r in session.runs] == [0, 0]  # rolled back, nothing half-updated


def test_a_run_that_diverges_stops_the_session_when_none_is_left(session, monkeypatch):
    session.running = True
    for run in session.runs:
        run.error = "loss became nan"
    reply = lab_frame(session.token)
    assert reply["running"] is False and not session.running and len(_svgs(reply["html"])) == 2
