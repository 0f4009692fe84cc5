"""Alarm pages of the report: one page per alarm test (docs/alarms.md).

Numbers come from the ``alarms`` block of ``results.json`` (never recomputed); the timeline
decodes the test's own capture (``SESSION/alarms/ID/capture.vbcap``) through the session's
driver, as replay does, and marks the moments the results give.
"""

from __future__ import annotations

from typing import Any

from ventbench.bench.report.fmt import verdict_style
from ventbench.bench.report.i18n import Messages
from ventbench.bench.report.layout import CONTENT_W_IN, LEFT_IN, Document, axes_at
from ventbench.bench.report.reasons import translate_reason
from ventbench.bench.report.source import ReportData

MARKS = (("induced_s", "--", "0.3"), ("condition_s", "-", "0.1"), ("alarm_s", "-", "#b2182b"),
         ("released_s", ":", "0.3"), ("recovered_s", "-", "#1a9850"))


def _signals(data: ReportData, alarm: dict[str, Any]) -> dict[str, Any]:
    """Decoded samples of one alarm test's capture (t_s, flow, paw, sound)."""
    from ventbench.bench.alarm_session import ALARMS_DIR, CAPTURE, decode_alarm_capture
    from ventbench.bench.session import safe_name

    port = data.start.get("port") or {}
    path = data.root / ALARMS_DIR / safe_name(str(alarm["id"])) / CAPTURE
    return decode_alarm_capture(path, port.get("driver", "rig"), port.get("driver_options") or {})[0]


def _num(msgs: Messages, value: Any, decimals: int = 3) -> str:
    return msgs("alarms.none") if value is None else msgs.num(value, decimals)


def _timeline(doc: Document, data: ReportData, alarm: dict[str, Any], msgs: Messages) -> None:
    try:
        sig = _signals(data, alarm)
    except Exception as error:  # noqa: BLE001 - the page says so; the report still renders
        doc.paragraph(msgs("alarms.no_data", error=str(error)), 8)
        return
    t = sig["t_s"]
    if t.size == 0:
        doc.paragraph(msgs("alarms.no_data", error="no samples"), 8)
        return
    doc.paragraph(msgs("alarms.timeline_caption"), 7.5)
    rows = [("paw_cmh2o", "alarms.paw"), ("flow_lpm", "alarms.flow")]
    if "sound_dba" in sig:
        rows.append(("sound_dba", "alarms.sound"))
    h, gap = 1.45, 0.12
    figure, top, _ = doc.block(len(rows) * (h + gap) + 0.45)
    step = max(1, t.size // 6000)  # a fixed-size figure, whatever the sample rate
    for k, (key, label) in enumerate(rows):
        ax = axes_at(figure, LEFT_IN + 0.7, top - (k + 1) * (h + gap), CONTENT_W_IN - 0.8, h)
        ax.plot(t[::step], sig[key][::step], lw=0.5, color="0.15")
        for field, style, color in MARKS:
            if alarm.get(field) is not None:
                ax.axvline(alarm[field], ls=style, lw=0.9, color=color)
        ax.set_ylabel(msgs(label), fontsize=6.5)
        ax.tick_params(labelsize=6)
        ax.set_xlim(float(t[0]), float(t[-1]))
        if k < len(rows) - 1:
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel(msgs("alarms.time"), fontsize=6.5)


def section(doc: Document, data: ReportData, msgs: Messages) -> None:
    """One page per alarm test (nothing when the session has none)."""
    alarms = data.results.get("alarms") or []
    for i, alarm in enumerate(alarms):
        doc.new_page()
        if i == 0:
            doc.heading(msgs("alarms.section"))
            doc.paragraph(msgs("alarms.intro"), 8)
        code = str(alarm.get("condition", ""))
        condition = msgs.get(f"alarm_condition.{code}", code.replace("_", " "))
        doc.heading(msgs("alarms.test", id=alarm.get("id"), condition=condition), 2)
        limit = alarm.get("limit") or {}
        delay = (msgs("alarms.none") if alarm.get("delay_s") is None else
                 msgs("alarms.delay_value", delay=_num(msgs, alarm["delay_s"]), U=_num(msgs, alarm.get("U_delay_s"))))
        recovered = alarm.get("recovered_s")
        rows = [
            (msgs("alarms.condition"), condition),
            (msgs("alarms.induced"), _num(msgs, alarm.get("induced_s"))),
            (msgs("alarms.seen"), _num(msgs, alarm.get("condition_s"))),
            (msgs("alarms.induced_vs_data"), _num(msgs, alarm.get("induced_vs_data_s"))),
            (msgs("alarms.alarm", detection=msgs.get(f"alarm_detection.{alarm.get('detection')}",
                                                      str(alarm.get("detection", "")))), _num(msgs, alarm.get("alarm_s"))),
            (msgs("alarms.delay"), delay),
            (msgs("alarms.limit"), msgs("alarms.limit_value", limit=_num(msgs, alarm.get("limit_s"), 1),
                                        confidence=msgs.get(f"limits.conf_{limit.get('confidence')}",
                                                                   str(limit.get("confidence", ""))))),
            (msgs("alarms.limit_source"), translate_reason(limit.get("source"), msgs)),
            (msgs("alarms.released"), _num(msgs, alarm.get("released_s"))),
            (msgs("alarms.recovered"), _num(msgs, recovered) if recovered is not None or alarm.get(
                "released_s") is None else msgs("alarms.not_recovered")),
        ]
        doc.key_values(rows, size=8.0, key_in=2.3)
        style = verdict_style(alarm.get("verdict"))
        doc.paragraph(f"{msgs('alarms.verdict')}: {msgs.verdict(alarm.get('verdict'))}"
                      + (f" — {translate_reason(alarm['reason'], msgs)}" if alarm.get("reason") else ""), 9,
                      bold=True, color=style.color)
        _timeline(doc, data, alarm, msgs)
