// ventbench live view: frames pushed by Server-Sent Events (/api/stream), min/max per pixel
// column, drawn with uPlot. No network access beyond the page's own server.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const MARK = { start: "rgb(0, 160, 60)", insp: "rgb(120, 120, 255)", flag: "rgb(230, 0, 200)" };
  const CHANNELS = [
    { name: "flow", unit: "L/min", color: "#1f77b4" },
    { name: "paw", unit: "cmH2O", color: "#d62728" },
    { name: "volume", unit: "mL", color: "#2ca02c" },
  ];
  const state = {
    span: 20, paused: false, frame: null, marks: [], source: null, frames: 0,
    latencies: [], lastVersion: -1, stateParts: null,
  };
  const $ = (id) => document.getElementById(id);
  const chartsEl = $("charts");

  function width() { return Math.max(300, chartsEl.clientWidth || 800); }
  function cols(plotWidth) { return Math.max(50, Math.round(plotWidth)); }

  function drawMarks(u) {
    const ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
    const lo = u.scales.x.min, hi = u.scales.x.max;
    ctx.save();
    ctx.lineWidth = 1;
    for (const m of state.marks) {
      const lines = [[m.t_s, m.flags.length ? MARK.flag : MARK.start]];
      if (m.t_insp_end_s !== null) lines.push([m.t_insp_end_s, MARK.insp]);
      for (const [t, colour] of lines) {
        if (t < lo || t > hi) continue;
        const x = Math.round(u.valToPos(t, "x", true)) + 0.5;
        ctx.strokeStyle = colour;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      }
      if (m.flags.length && m.t_s >= lo && m.t_s <= hi) {
        ctx.fillStyle = MARK.flag;
        ctx.font = "11px sans-serif";
        ctx.fillText(m.label, u.valToPos(m.t_s, "x", true) + 3, top + 11);
      }
    }
    ctx.restore();
  }

  const plots = CHANNELS.map((ch) => {
    const opts = {
      width: width(), height: 170, pxAlign: 0,
      scales: { x: { time: false } },
      legend: { show: false }, cursor: { sync: { key: "vb" } },
      axes: [{ label: "session time, s" }, { label: `${ch.name}, ${ch.unit}`, size: 60 }],
      series: [{}, { stroke: ch.color, width: 1, spanGaps: false, points: { show: false } }],
      hooks: { draw: [drawMarks] },
    };
    return new uPlot(opts, [[0, 1], [null, null]], chartsEl);
  });

  function decode(b64, n) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const f = new Float32Array(bytes.buffer);
    return f.length === 6 * n ? f : null;
  }

  function applyFrame(f) {
    const n = f.cols, w = decode(f.waves, n);
    if (!w) return;
    const dt = (f.t_hi_s - f.t_lo_s) / n;
    const x = new Float64Array(2 * n);
    for (let c = 0; c < n; c++) { x[2 * c] = f.t_lo_s + c * dt; x[2 * c + 1] = f.t_lo_s + (c + 0.5) * dt; }
    state.marks = f.marks;
    CHANNELS.forEach((ch, k) => {
      const y = new Array(2 * n);
      for (let c = 0; c < n; c++) {
        const lo = w[k * n + c], hi = w[(3 + k) * n + c];
        y[2 * c] = Number.isNaN(lo) ? null : lo;
        y[2 * c + 1] = Number.isNaN(hi) ? null : hi;
      }
      plots[k].batch(() => {
        plots[k].setData([Array.from(x), y], false);
        plots[k].setScale("x", { min: f.t_lo_s, max: f.t_hi_s });
        plots[k].setScale("y", autoRange(y));
      });
    });
    state.frame = f;
    state.frames++;
    if (f.arrival_wall) state.latencies.push(Date.now() / 1000 - f.arrival_wall);
    if (state.latencies.length > 2000) state.latencies.splice(0, 1000);
    const sl = $("scroll");
    if (!state.paused) {
      sl.value = sl.max;
      $("scroll-at").textContent = `${f.t_hi_s.toFixed(1)} s (live)`;
    }
  }

  function autoRange(y) {
    let lo = Infinity, hi = -Infinity;
    for (const v of y) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (!Number.isFinite(lo)) return { min: -1, max: 1 };
    const pad = Math.max(0.5, 0.05 * (hi - lo));
    return { min: lo - pad, max: hi + pad };
  }

  function fmt(v, d) { return v === null || v === undefined ? "—" : Number(v).toFixed(d); }
  function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }
  function kv(o) { return Object.entries(o || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join("  "); }

  function applyState(s) {
    state.stateParts = s;
    const st = $("status");
    st.textContent = s.status; st.className = "badge " + s.status;
    $("session-verdict").textContent = s.session_verdict ? `session verdict: ${s.session_verdict}` : "";
    const p = s.protocol || {};
    if (p.id) {
      $("point").textContent = `point ${p.index}/${p.total}: ${p.id} (${p.mode})`;
      $("settings").innerHTML = `set the ventilator: <b>${kv(p.set)}</b><br>test lung: ${kv(p.lung)}` +
        (p.note ? `<br>note: ${esc(p.note)}` : "");
      const pr = p.progress;
      if (pr) {
        $("bar").style.width = `${Math.min(100, 100 * pr.breaths / pr.need)}%`;
        const phase = pr.breaths < pr.settle ? "settling" : pr.breaths < pr.settle + pr.measure ? "measuring" : "margin";
        $("times").textContent = `${pr.breaths}/${pr.need} breaths (${phase}: settle ${pr.settle}, measure ${pr.measure}), elapsed ${pr.elapsed_s} s, remaining ≈ ${pr.remaining_s} s`;
      } else { $("bar").style.width = "0"; $("times").textContent = "waiting for the operator"; }
    }
    const c = s.counters || {};
    $("link").innerHTML = Object.entries(c).map(([k, v]) => `<tr><th>${esc(k)}</th><td id="link-${esc(k)}">${esc(v)}</td></tr>`).join("") +
      `<tr><th>frames drawn</th><td>${state.frames}</td></tr>`;
    $("verdicts").innerHTML = (s.verdicts || []).map((v) =>
      `<tr><th>${esc(v.point)}</th><td class="${v.verdict === "PASS" ? "pass" : v.verdict === "FAIL" ? "fail" : "info"}">${esc(v.verdict)}</td></tr>`).join("");
    renderRows(s.rows || []);
    renderPrompt(s.prompt);
  }

  function renderRows(rows) {
    const last = rows.slice(-30).reverse();
    if (!last.length) { $("breaths").innerHTML = ""; return; }
    const labels = last[0].cells.map((c) => c.label);
    let html = "<tr><th>point</th><th>breath</th><th>settle state</th>" +
      labels.map((l) => `<th>${esc(l)} measured (set ± limit)</th><th>${esc(l)} mean</th>`).join("") + "</tr>";
    for (const r of last) {
      html += `<tr><td>${esc(r.point)}</td><td>${r.n}</td><td>${esc(r.phase)}</td>`;
      for (const c of r.cells) {
        const cls = c.ok === null ? "info" : c.ok ? "pass" : "fail";
        const lim = c.limit === null ? "" : ` ± ${fmt(c.limit, c.digits)}`;
        html += `<td class="${cls}">${fmt(c.value, c.digits)} (${fmt(c.set, c.digits)}${lim})</td><td>${fmt(c.mean, c.digits)}</td>`;
      }
      html += "</tr>";
    }
    $("breaths").innerHTML = html;
  }

  function renderPrompt(p) {
    const el = $("prompt");
    if (!p) { el.hidden = true; return; }
    el.hidden = false;
    $("prompt-text").textContent = `point ${p.index}/${p.total} ${p.point}: ${p.text}`;
    $("prompt-set").innerHTML = `ventilator: <b>${kv(p.set)}</b> — test lung: ${kv(p.lung)}`;
    $("btn-redo").disabled = !p.can_redo;
    $("prompt-notes").textContent = (p.notes || []).map((n) => `note: ${n}`).join("; ");
  }

  async function answer(kind) {
    const body = { answer: kind };
    if (kind === "note") body.text = $("note").value;
    const r = await fetch(`/api/answer?token=${encodeURIComponent(token)}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (r.ok && kind === "note") $("note").value = "";
    if (!r.ok) alert(`not taken: ${(await r.json()).error}`);
  }
  document.querySelectorAll("#prompt button").forEach((b) =>
    b.addEventListener("click", () => answer(b.dataset.answer)));

  function onFrame(f) {
    if (f.state) applyState(f.state);
    if (!state.paused) applyFrame(f);
    else state.lastLive = f;
  }

  function connect() {
    if (state.source) state.source.close();
    const plotW = plots[0].bbox.width / (window.devicePixelRatio || 1);
    const es = new EventSource(`/api/stream?span=${state.span}&cols=${cols(plotW)}`);
    es.onmessage = (ev) => { try { onFrame(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
    es.onerror = () => { $("status").textContent = "connection lost; retrying"; $("status").className = "badge lost"; };
    state.source = es;
  }

  async function fetchWindow(tEnd) {
    const plotW = plots[0].bbox.width / (window.devicePixelRatio || 1);
    const r = await fetch(`/api/window?span=${state.span}&cols=${cols(plotW)}&t_end=${tEnd}`);
    applyFrame(await r.json());
  }

  function scrollEnd() {
    const f = state.lastLive || state.frame;
    if (!f) return null;
    const a = f.t_first_s + state.span, b = f.t_last_s;
    return a >= b ? b : a + (b - a) * ($("scroll").value / $("scroll").max);
  }

  $("span").addEventListener("change", () => {
    state.span = Number($("span").value);
    if (state.paused) fetchWindow(scrollEnd()); else connect();
  });
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").textContent = state.paused ? "Live" : "Pause";
    $("scroll").disabled = !state.paused;
    if (state.paused) state.lastLive = state.frame;
  });
  $("scroll").addEventListener("input", () => {
    const t = scrollEnd();
    if (t === null) return;
    $("scroll-at").textContent = `${t.toFixed(1)} s`;
    fetchWindow(t);
  });
  $("png").addEventListener("click", () => {
    const canvases = plots.map((u) => u.ctx.canvas);
    const out = document.createElement("canvas");
    out.width = Math.max(...canvases.map((c) => c.width));
    out.height = canvases.reduce((h, c) => h + c.height, 0);
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
    let y = 0;
    for (const c of canvases) { ctx.drawImage(c, 0, y); y += c.height; }
    const a = document.createElement("a");
    const f = state.frame;
    a.download = `ventbench-view-${f ? f.t_lo_s.toFixed(1) + "-" + f.t_hi_s.toFixed(1) : "empty"}s.png`;
    a.href = out.toDataURL("image/png");
    a.click();
  });
  window.addEventListener("resize", () => { plots.forEach((u) => u.setSize({ width: width(), height: 170 })); connect(); });

  // for tests and the latency benchmark
  window.vbView = { state, plots, MARK };
  connect();
})();
