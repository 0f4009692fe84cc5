"""The view's hub: session time axis, volume from flow, breath marks, bounded buffers."""

from __future__ import annotations

import base64

import numpy as np

from ventbench.bench.view.hub import POINT_GAP_S, ViewHub


def _waves(frame):
    w = np.frombuffer(base64.b64decode(frame["waves"]), dtype="<f4")
    return w.reshape(6, frame["cols"])  # flow lo, paw lo, vol lo, flow hi, paw hi, vol hi


def test_points_follow_each_other_on_the_session_axis():
    hub = ViewHub()
    a, b = object(), object()
    t = np.arange(0, 10, 0.01)
    hub.add_samples(a, t + 100.0, np.zeros_like(t), np.full_like(t, 5.0))  # device time 100..110
    hub.add_samples(b, t, np.zeros_like(t), np.full_like(t, 7.0))  # a new point restarts at 0
    first, last = hub.session_span()
    assert first == 0.0 and abs(last - (9.99 + POINT_GAP_S + 9.99)) < 1e-9
    mark = hub.add_breath(b, 2.0, 1.0, ["double_trigger"], "double_trigger")
    assert abs(mark["t_s"] - (9.99 + POINT_GAP_S + 2.0)) < 1e-9
    assert abs(mark["t_insp_end_s"] - mark["t_s"] - 1.0) < 1e-9
    frame = hub.frame(span_s=30.0, cols=300)
    w = _waves(frame)
    assert np.nanmax(w[4]) == 7.0 and np.nanmin(w[1]) == 5.0
    assert frame["marks"] == [mark]


def test_volume_is_the_integral_of_flow_restarting_at_each_breath_start():
    hub = ViewHub()
    key = object()
    fs = 1000.0
    t = np.arange(0, 6, 1 / fs)
    # 30 L/min for 1 s = 500 mL in, 2 s at -10 L/min = 333 mL out: 167 mL left (a leak)
    flow = np.where((t % 3.0) < 1.0, 30.0, -10.0)
    for i in range(0, len(t), 137):  # blocks of any size
        hub.add_samples(key, t[i:i + 137], flow[i:i + 137], np.zeros(len(t[i:i + 137])))
    hub.add_breath(key, 3.0, 1.0, [], "")
    frame = hub.frame(span_s=6.0, cols=600, t_end_s=6.0)
    w = _waves(frame)
    vol_hi = w[5]
    assert abs(np.nanmax(vol_hi[:300]) - 500.0) < 1.0  # first breath: from the point's start
    # the second breath starts at 0 again, peaks at 500 mL (not 500 + what was left)
    assert abs(w[2][300]) < 1.0 and abs(np.nanmax(vol_hi[300:]) - 500.0) < 1.0


def test_display_samples_are_bounded_and_older_ones_dropped():
    hub = ViewHub(max_samples=10_000)
    key = object()
    for k in range(30):
        t = k * 1.0 + np.arange(1000) / 1000.0
        hub.add_samples(key, t, np.zeros(1000), np.zeros(1000))
    assert hub.samples <= 10_000 and hub.dropped_samples == 30_000 - hub.samples
    first, last = hub.session_span()
    assert last == 29.999 and first > 0.0


def test_state_is_only_sent_when_it_changed():
    hub = ViewHub()
    hub.update(counters={"samples": 3})
    frame = hub.frame(10.0, 10)
    assert frame["state"]["counters"] == {"samples": 3}
    again = hub.frame(10.0, 10, since_version=frame["version"])
    assert "state" not in again
