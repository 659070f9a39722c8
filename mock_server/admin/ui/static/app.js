// The together-sim dashboard: renders the snapshots that /_sim/ui/events streams (or, without
// EventSource, that /_sim/ui/api/snapshot answers each second). Vanilla JS, no build step, nothing
// fetched from elsewhere. Every value from the server goes in through textContent, never as HTML:
// file names and fault messages are the users' own strings.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { tenant: null, job: null, source: null, lastData: null, polling: null };

  // -- small helpers ----------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const shortId = (id) => (id && id.length > 14 ? id.slice(0, 12) + "…" : id || "");
  const when = (iso) => (iso ? iso.slice(0, 19).replace("T", " ") : "");
  const clockTime = (iso) => (iso ? iso.slice(11, 19) : "");
  const lastPart = (name) => (name || "").split("/").pop();

  function size(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function badge(status) {
    return el("span", { class: "badge status-" + status, text: status.replace("_", " ") });
  }

  function fillTable(id, rows) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren(...rows);
    $(id).hidden = rows.length === 0;
    const empty = $(id + "-empty");
    if (empty) empty.hidden = rows.length !== 0;
  }

  // -- what is selected lives in the URL's hash, so a reload or a shared link keeps it -----------

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    state.tenant = params.get("tenant");
    state.job = params.get("job");
  }

  function writeHash() {
    const params = new URLSearchParams();
    if (state.tenant) params.set("tenant", state.tenant);
    if (state.job) params.set("job", state.job);
    history.replaceState(null, "", "#" + params.toString());
  }

  function select(tenant, job) {
    state.tenant = tenant;
    state.job = job;
    writeHash();
    connect();
  }

  // -- live updates -------------------------------------------------------------------------------

  function query() {
    const params = new URLSearchParams();
    if (state.tenant) params.set("tenant", state.tenant);
    if (state.job) params.set("job", state.job);
    return params.toString();
  }

  function setConnection(mode, text) {
    const node = $("connection");
    node.dataset.state = mode;
    node.textContent = text;
  }

  function received(data) {
    setConnection("live", "live");
    if (data === state.lastData) return; // a reconnect's first snapshot, unchanged
    state.lastData = data;
    render(JSON.parse(data));
  }

  function connect() {
    if (state.source) state.source.close();
    clearTimeout(state.polling);
    state.lastData = null;
    if (!window.EventSource) {
      poll();
      return;
    }
    const source = new EventSource("/_sim/ui/events?" + query());
    source.addEventListener("snapshot", (event) => received(event.data));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setConnection("offline", "offline: polling");
        poll();
        return;
      }
      // The stream lasts as long as the page: an error means the server went away (a restart, a
      // stop). EventSource reconnects by itself, and the first snapshot it gets shows "live" again.
      setConnection("retrying", "reconnecting…");
    });
    state.source = source;
  }

  // A simulator started with keys answers 401 until the page signs in: the key goes to the server
  // once, which keeps it in a cookie that only /_sim/ui gets (EventSource cannot send a header).
  function askForKey() {
    setConnection("offline", "key needed");
    $("sign-in").hidden = false;
    $("sign-in-key").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const error = $("sign-in-error");
    error.hidden = true;
    const response = await fetch("/_sim/ui/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: $("sign-in-key").value }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      error.textContent = (body && body.error && body.error.message) || "refused (" + response.status + ")";
      error.hidden = false;
      return;
    }
    $("sign-in-key").value = "";
    $("sign-in").hidden = true;
    connect();
  }

  async function poll() {
    try {
      const response = await fetch("/_sim/ui/api/snapshot?" + query(), { cache: "no-store" });
      if (response.status === 401) {
        askForKey();
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      received(await response.text());
    } catch (error) {
      setConnection("offline", "offline: retrying");
    }
    state.polling = setTimeout(poll, 1000);
  }

  // -- rendering ----------------------------------------------------------------------------------

  function render(snap) {
    $("clock").textContent = when(snap.now);
    $("clock").setAttribute("datetime", snap.now);
    $("clock-mode").textContent = "(" + snap.clock + " clock)";
    renderTenants(snap);
    renderJobs(snap);
    renderFiles(snap);
    renderJob(snap.job);
    renderFaults(snap);
  }

  function renderTenants(snap) {
    const picker = $("tenant");
    const options = snap.tenants.map((t) =>
      el("option", {
        value: t.id,
        text: `${t.id.slice(0, 8)}… (${t.files} file${t.files === 1 ? "" : "s"}, ${t.jobs} job${t.jobs === 1 ? "" : "s"})`,
      }),
    );
    if (!options.length) options.push(el("option", { value: "", text: "no tenant yet" }));
    picker.replaceChildren(...options);
    picker.value = snap.tenant || "";
    picker.disabled = snap.tenants.length === 0;
  }

  function renderJobs(snap) {
    const selected = snap.job && snap.job.id;
    fillTable(
      "jobs",
      snap.jobs.map((job) => {
        const label = job.suffix ? `${shortId(job.id)} · ${job.suffix}` : shortId(job.id);
        return el(
          "tr",
          { class: job.id === selected ? "selected" : "", "data-job": job.id },
          el(
            "td",
            {},
            el("button", {
              type: "button",
              class: "link mono",
              title: job.id,
              "aria-current": job.id === selected ? "true" : null,
              text: label,
              onclick: () => select(snap.tenant, job.id),
            }),
            el("br"),
            el("span", { class: "muted small", title: job.model, text: lastPart(job.model) }),
          ),
          el("td", {}, badge(job.status)),
          el(
            "td",
            {},
            el("progress", {
              max: job.total_steps,
              value: job.steps_completed,
              "aria-label": `${job.steps_completed} of ${job.total_steps} steps`,
            }),
            el("span", { class: "muted", text: ` ${job.steps_completed}/${job.total_steps}` }),
          ),
          el("td", { class: "nowrap", title: job.created_at, text: when(job.created_at) }),
        );
      }),
    );
  }

  function renderFiles(snap) {
    fillTable(
      "files",
      snap.files.map((file) =>
        el(
          "tr",
          {},
          el("td", { title: file.id }, el("span", { text: file.filename }), el("br"), el("span", { class: "mono muted", text: shortId(file.id) })),
          el("td", { text: file.purpose }),
          el("td", { text: size(file.bytes) }),
          el("td", { text: String(file.num_samples) }),
          el("td", { title: file.error || "", class: file.error ? "failure" : "", text: file.processing_status }),
        ),
      ),
    );
  }

  function renderJob(job) {
    $("job").hidden = !job;
    $("job-empty").hidden = !!job;
    if (!job) return;
    $("job-id").textContent = job.id;
    $("job-status").replaceWith(Object.assign(badge(job.status), { id: "job-status" }));
    const kind = `${job.lora ? "LoRA" : "full"} ${job.method.toUpperCase()}`;
    const eta = job.seconds_remaining ? ` · ${job.seconds_remaining} s left` : "";
    $("job-summary").textContent =
      `${job.model} · ${kind} · ${job.trainer} trainer · step ${job.steps_completed}/${job.total_steps}` +
      ` · epoch ${job.epochs_completed}/${job.n_epochs}${eta} · output ${job.output_name}`;
    $("job-failure").hidden = !job.failure_message;
    $("job-failure").textContent = job.failure_message || "";

    const start = Date.parse(job.timeline[0].at);
    $("timeline").replaceChildren(
      ...job.timeline.map((change, i) => {
        const offset = Math.round((Date.parse(change.at) - start) / 1000);
        return el(
          "li",
          { "data-status": change.status, class: i === job.timeline.length - 1 ? "current" : "" },
          badge(change.status),
          el("time", { datetime: change.at, title: change.at, text: clockTime(change.at) }),
          el("span", { class: "muted", text: i ? `+${offset} s` : "created" }),
        );
      }),
    );

    drawChart($("chart"), job.metrics);

    fillTable(
      "checkpoints",
      job.checkpoints.map((c) =>
        el(
          "tr",
          {},
          el("td", { text: String(c.step) }),
          el("td", { text: c.checkpoint_type }),
          el("td", { title: c.created_at, text: clockTime(c.created_at) }),
          el("td", { class: "mono path", title: c.path, text: c.path }),
        ),
      ),
    );

    $("events-count").textContent = `(${job.events.length})`;
    $("events").querySelector("tbody").replaceChildren(
      ...job.events
        .slice()
        .reverse()
        .map((e) =>
          el(
            "tr",
            { class: "level-" + e.level },
            el("td", { title: e.at, text: clockTime(e.at) }),
            el("td", { class: "mono", text: e.type }),
            el("td", { text: e.step ? String(e.step) : "" }),
            el("td", { text: e.message }),
          ),
        ),
    );
  }

  function ruleMatches(rule) {
    const which = rule.operation || rule.path || rule.path_regex || "every request";
    const parts = [rule.method && !rule.operation ? `${rule.method} ${which}` : which];
    if (rule.tenant) parts.push(`tenant ${rule.tenant.slice(0, 8)}…`);
    if (rule.probability !== undefined) parts.push(`p=${rule.probability}`);
    if (rule.every) parts.push(`every ${rule.every}`);
    if (rule.skip) parts.push(`skip ${rule.skip}`);
    return parts.join(", ");
  }

  function latency(value) {
    if (typeof value === "number") return `${value} s`;
    if (value.fixed !== undefined) return `${value.fixed} s`;
    if (value.uniform) return `${value.uniform[0]}–${value.uniform[1]} s`;
    if (value.normal) return `~${value.normal[0]} s (sd ${value.normal[1]})`;
    return JSON.stringify(value);
  }

  function ruleDoes(rule) {
    const parts = [];
    if (rule.status) parts.push(`${rule.status}${rule.retry_after ? ` retry-after ${rule.retry_after}s` : ""}`);
    if (rule.latency !== undefined) parts.push(`latency ${latency(rule.latency)}`);
    if (rule.reset) parts.push("connection reset");
    if (rule.truncate !== undefined) parts.push(`truncate at ${rule.truncate}`);
    if (rule.slow_stream) parts.push(`slow stream ${rule.slow_stream.interval}s`);
    return parts.join(" + ") || "nothing";
  }

  function renderFaults(snap) {
    fillTable(
      "faults",
      snap.rules.map((rule) =>
        el(
          "tr",
          {},
          el("td", { class: "mono", text: rule.id }),
          el("td", { class: "mono", text: ruleMatches(rule) }),
          el("td", { text: ruleDoes(rule) }),
          el("td", { text: String(rule.seen) }),
          el("td", { text: String(rule.fired) }),
          el("td", { text: rule.remaining === null ? "∞" : String(rule.remaining) }),
        ),
      ),
    );
    const shown = snap.journal.length;
    $("journal-count").textContent = snap.journal_total
      ? `(${shown < snap.journal_total ? `newest ${shown} of ` : ""}${snap.journal_total})`
      : "";
    fillTable(
      "journal",
      snap.journal.map((entry) => {
        const what = entry.detail.status ? `${entry.fault} ${entry.detail.status}` : entry.fault;
        return el(
          "tr",
          {},
          el("td", { text: String(entry.seq) }),
          el("td", { title: entry.at, text: clockTime(entry.at) }),
          el("td", { class: "mono", text: `${entry.method} ${entry.path}` }),
          el("td", { class: "mono", text: entry.rule }),
          el("td", { text: what }),
          el("td", { text: entry.retry_count === null ? "" : String(entry.retry_count) }),
        );
      }),
    );
  }

  // -- the loss chart: inline SVG, drawn by hand ---------------------------------------------------

  function niceStep(range, count) {
    const raw = range / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const fraction = raw / power;
    return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
  }

  function ticks(lo, hi, count, integer) {
    let step = niceStep(hi - lo || 1, count);
    if (integer) step = Math.max(1, Math.round(step));
    const first = Math.floor(lo / step) * step;
    const last = Math.ceil(hi / step) * step;
    const out = [];
    for (let v = first; v <= last + step / 2; v += step) out.push(Number(v.toPrecision(12)));
    return { values: out, step };
  }

  function drawChart(chart, metrics) {
    const train = metrics.train;
    const evals = metrics.eval;
    chart.replaceChildren();
    chart.dataset.trainPoints = String(train.length);
    chart.dataset.evalPoints = String(evals.length);
    const caption = $("chart-summary");
    if (!train.length && !evals.length) {
      caption.textContent = "No metrics yet: the job has not finished a training step.";
      chart.classList.add("blank");
      return;
    }
    chart.classList.remove("blank");
    const W = 720;
    const H = 320;
    const m = { left: 64, right: 20, top: 16, bottom: 48 };
    const all = train.concat(evals);
    const maxStep = Math.max(1, ...all.map((p) => p.step));
    const losses = all.map((p) => p.loss);
    let lo = Math.min(...losses);
    let hi = Math.max(...losses);
    const pad = (hi - lo) * 0.05 || 0.5;
    lo = Math.max(0, lo - pad);
    hi += pad;
    const yt = ticks(lo, hi, 5, false);
    const xt = ticks(0, maxStep, 6, true);
    const y0 = yt.values[0];
    const y1 = yt.values[yt.values.length - 1];
    const x1 = xt.values[xt.values.length - 1];
    const x = (step) => m.left + (step / x1) * (W - m.left - m.right);
    const y = (loss) => H - m.bottom - ((loss - y0) / (y1 - y0)) * (H - m.top - m.bottom);
    const decimals = Math.max(0, -Math.floor(Math.log10(yt.step)));

    const grid = svg("g", { class: "grid" });
    for (const v of yt.values) {
      grid.append(svg("line", { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }));
      grid.append(svg("text", { x: m.left - 8, y: y(v) + 4, "text-anchor": "end", class: "tick" }, v.toFixed(decimals)));
    }
    for (const v of xt.values) {
      grid.append(svg("line", { x1: x(v), x2: x(v), y1: m.top, y2: H - m.bottom, class: "minor" }));
      grid.append(svg("text", { x: x(v), y: H - m.bottom + 18, "text-anchor": "middle", class: "tick" }, String(v)));
    }
    chart.append(grid);
    chart.append(svg("line", { x1: m.left, x2: W - m.right, y1: H - m.bottom, y2: H - m.bottom, class: "axis" }));
    chart.append(svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: H - m.bottom, class: "axis" }));
    chart.append(svg("text", { x: (m.left + W - m.right) / 2, y: H - 8, "text-anchor": "middle", class: "label" }, "step"));
    chart.append(
      svg("text", { x: 16, y: (m.top + H - m.bottom) / 2, "text-anchor": "middle", class: "label", transform: `rotate(-90 16 ${(m.top + H - m.bottom) / 2})` }, "loss"),
    );

    const line = (points) => points.map((p, i) => `${i ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(" ");
    if (train.length) chart.append(svg("path", { d: line(train), class: "train", id: "train-line" }));
    if (evals.length) {
      chart.append(svg("path", { d: line(evals), class: "eval", id: "eval-line" }));
      const dots = svg("g", { class: "eval-points" });
      for (const p of evals) {
        const dot = svg("circle", { cx: x(p.step), cy: y(p.loss), r: 4 });
        dot.append(svg("title", {}, `eval/loss ${p.loss.toFixed(4)} at step ${p.step}`));
        dots.append(dot);
      }
      chart.append(dots);
    }

    const legend = svg("g", { class: "legend", transform: `translate(${W - m.right - 150}, ${m.top + 6})` });
    legend.append(svg("rect", { x: -8, y: -6, width: 150, height: evals.length ? 46 : 26, rx: 4 }));
    legend.append(svg("line", { x1: 0, x2: 24, y1: 7, y2: 7, class: "train" }));
    legend.append(svg("text", { x: 32, y: 11 }, "train/loss"));
    if (evals.length) {
      legend.append(svg("line", { x1: 0, x2: 24, y1: 27, y2: 27, class: "eval" }));
      legend.append(svg("circle", { cx: 12, cy: 27, r: 4, class: "eval-dot" }));
      legend.append(svg("text", { x: 32, y: 31 }, "eval/loss"));
    }
    chart.append(legend);

    const parts = [];
    if (train.length) {
      const last = train[train.length - 1];
      parts.push(`train/loss ${last.loss.toFixed(4)} at step ${last.step} (${train.length} points)`);
    }
    if (evals.length) {
      const last = evals[evals.length - 1];
      parts.push(`eval/loss ${last.loss.toFixed(4)} at step ${last.step} (${evals.length} evaluations)`);
    }
    caption.textContent = "Last values: " + parts.join("; ") + ".";
  }

  // -- start ----------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    readHash();
    $("tenant").addEventListener("change", (event) => select(event.target.value, null));
    $("sign-in").addEventListener("submit", signIn);
    window.addEventListener("hashchange", () => {
      readHash();
      connect();
    });
    connect();
  });
})();
