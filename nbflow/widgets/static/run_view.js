// RunView: the run's graph (SVG drawn in the kernel), its progress, and the details of the
// clicked node or key, with rerun buttons. Clicks send {action: ...} messages; everything
// shown comes from the model's traits.

const seconds = (s) => (s === null || s === undefined ? "" : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(1)} s`);

const STATUSES = ["", "SUCCESS", "FAILURE", "SKIPPED", "STARTED", "CANCELED"];

// The clicked SVG element -> {node, key}: graph nodes have ids "node:<op>" and "key:<op>:<key>".
function target(event) {
  const g = event.target.closest("g.node");
  if (!g) return null;
  const id = g.getAttribute("id") || "";
  if (id.startsWith("node:")) return { node: id.slice(5), key: null };
  if (id.startsWith("key:")) {
    const rest = id.slice(4);
    const cut = rest.indexOf(":");
    return { node: rest.slice(0, cut), key: rest.slice(cut + 1) };
  }
  return null;
}

function render({ model, el }) {
  hideStaticPicture(model.get("view_id"));
  const root = h("div", { class: "nbflow-runview" });
  el.appendChild(root);
  keepKeysInFields(root);
  const send = (action, extra = {}) => {
    model.set("busy", action);
    model.save_changes();
    model.send({ action, ...extra });
  };
  const button = (label, action, extra = {}, title = undefined, cls = "") =>
    h("button", { class: `nbflow-btn nbflow-run-${action} ${cls}`, title, dataset: { action },
      onclick: () => send(action, extra) }, label);

  const header = () => {
    const parent = model.get("parent_run_id");
    const children = model.get("children");
    const p = model.get("progress");
    return h("div", { class: "nbflow-run-header" },
      h("span", { class: "nbflow-run-job" }, model.get("job_name")),
      badge(model.get("status")),
      h("code", { class: "nbflow-run-id", title: model.get("run_id") }, model.get("run_id").slice(0, 8)),
      parent ? h("button", { class: "nbflow-btn nbflow-link nbflow-run-parent", dataset: { runId: parent },
        onclick: () => send("open", { run_id: parent }) }, `← parent ${parent.slice(0, 8)}`) : null,
      ...children.map((c) => h("button", { class: "nbflow-btn nbflow-link nbflow-run-child",
        dataset: { runId: c.run_id }, onclick: () => send("open", { run_id: c.run_id }) },
        `rerun ${c.run_id.slice(0, 8)} → `, badge(c.status))),
      p.live ? button("Cancel", "cancel", {}, "Stop the run: no new steps start, running ones are stopped, finished ones are kept", "nbflow-danger") : null,
      !p.live && ["CANCELED", "INTERRUPTED"].includes(model.get("status"))
        ? button("Finish this run", "finish", {}, "Rerun what did not finish; everything finished is reused")
        : p.failed ? button("Rerun failed", "rerun_failed", {}, "Rerun the failed and skipped steps") : null,
      model.get("busy") ? h("span", { class: "nbflow-muted nbflow-busy" }, `${model.get("busy")}…`) : null);
  };

  const progress = () => {
    const p = model.get("progress");
    if (!p || p.total === undefined) return null;
    const pct = p.total ? Math.min(100, (100 * p.done) / p.total) : 0;
    const failedPct = p.total ? Math.min(100, (100 * p.failed) / p.total) : 0;
    const canceledPct = p.total ? Math.min(100 - pct, (100 * (p.canceled || 0)) / p.total) : 0;
    return h("div", { class: "nbflow-progress", dataset: { live: String(!!p.live) } },
      h("div", { class: "nbflow-progress-bar" },
        h("div", { class: "nbflow-progress-done", style: `width:${pct}%` }),
        h("div", { class: "nbflow-progress-failed", style: `width:${failedPct}%` }),
        h("div", { class: "nbflow-progress-canceled", style: `left:${pct}%;width:${canceledPct}%` })),
      h("span", { class: "nbflow-progress-text" },
        `${p.done.toLocaleString()} / ${p.total.toLocaleString()} steps · ${p.failed} failed · `
        + `${p.skipped} skipped${p.canceled ? ` · ${p.canceled.toLocaleString()} canceled` : ""}`
        + `${p.reused ? ` · ${p.reused.toLocaleString()} reused` : ""} · `
        + `${p.elapsed} s${p.live ? " · running" : ""}`));
  };

  const graph = h("div", { class: "nbflow-graph", title: "Click an op (or a key) for its details" });
  graph.addEventListener("click", (event) => {
    const hit = target(event);
    if (hit) send("select", hit);
  });

  const keysTable = (d) => {
    const k = model.get("key_page");
    if (!k || k.node !== d.node) return null;
    const checked = new Set(model.get("checked"));
    const setChecked = (key, on) => {
      const next = new Set(model.get("checked"));
      if (on) next.add(key); else next.delete(key);
      model.set("checked", [...next]);
      model.save_changes();
    };
    const filterStatus = h("select", { class: "nbflow-keys-status",
      onchange: (e) => send("keys", { node: d.node, page: 0, status: e.target.value, text: k.text }) },
      ...STATUSES.map((s) => h("option", { value: s, selected: s === k.status ? "selected" : undefined },
        s || "any status")));
    const applyText = (e) => {
      if (e.target.value !== k.text) send("keys", { node: d.node, page: 0, status: k.status, text: e.target.value });
    };
    const filterText = h("input", { class: "nbflow-keys-text", type: "search", placeholder: "key contains…",
      value: k.text, onchange: applyText, onsearch: applyText, dataset: { focus: `keys-text:${d.node}` },
      onkeydown: (e) => { if (e.key === "Enter") applyText(e); } });
    const rows = k.rows.map((r) => h("tr", { class: "nbflow-key-row", dataset: { key: r.key, status: r.status } },
      h("td", {}, h("input", { type: "checkbox", class: "nbflow-key-check", checked: checked.has(r.key),
        onchange: (e) => setChecked(r.key, e.target.checked) })),
      h("td", { class: "nbflow-key-name", onclick: () => send("select", { node: d.node, key: r.key }) }, r.key),
      h("td", {}, badge(r.status), r.reused ? h("span", { class: "nbflow-muted" }, " reused") : null),
      h("td", { class: "nbflow-num" }, r.attempts),
      h("td", { class: "nbflow-num" }, seconds(r.seconds))));
    return h("div", { class: "nbflow-keys" },
      h("div", { class: "nbflow-keys-tools" }, filterStatus, filterText,
        h("span", { class: "nbflow-muted" }, `${k.total.toLocaleString()} keys · page ${k.page + 1} of ${k.pages}`),
        h("button", { class: "nbflow-btn nbflow-keys-prev", disabled: k.page <= 0 ? "disabled" : undefined,
          // A step from the page the kernel shows when it gets the click: fast clicks add up.
          onclick: () => send("keys", { node: d.node, step: -1, status: k.status, text: k.text }) }, "‹"),
        h("button", { class: "nbflow-btn nbflow-keys-next", disabled: k.page + 1 >= k.pages ? "disabled" : undefined,
          onclick: () => send("keys", { node: d.node, step: 1, status: k.status, text: k.text }) }, "›"),
        button(`Rerun selected (${checked.size})`, "rerun_selected", { node: d.node },
          "Rerun the ticked keys and what they feed"),
        button("Show in graph", "expand", { node: d.node, status: k.status, text: k.text },
          "Draw these keys one by one in the graph")),
      h("table", { class: "nbflow-table" },
        h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "key"), h("th", {}, "status"),
          h("th", { class: "nbflow-num" }, "attempts"), h("th", { class: "nbflow-num" }, "duration"))),
        h("tbody", {}, ...rows)));
  };

  // The traceback from the op's own code; nbflow's frames above it are a click away.
  let fullFor = null;
  const traceback = (d) => {
    const full = d.error_full && fullFor === d.step_key;
    const toggle = d.error_full ? h("button", { class: "nbflow-btn nbflow-link nbflow-traceback-toggle",
      onclick: () => { fullFor = full ? null : d.step_key; draw(); } },
      full ? "Show from the op's code" : "Show full traceback") : null;
    return h("div", {}, h("pre", { class: "nbflow-traceback", dataset: { full: String(!!full) } },
      full ? d.error_full : d.error), toggle);
  };

  const stepBody = (d) => [
    h("div", { class: "nbflow-muted" },
      `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`, d.seconds !== null ? ` · ${seconds(d.seconds)}` : "",
      d.reused_from ? ` · reused from ${d.reused_from.slice(0, 8)}` : ""),
    d.error ? traceback(d) : null,
    d.output_text ? h("div", {}, h("div", { class: "nbflow-subtitle" }, "Output"),
      h("pre", { class: "nbflow-output" }, d.output_text)) : null,
    d.output_html ? (() => { const box = h("div", { class: "nbflow-output-table" }); box.innerHTML = d.output_html; return box; })() : null,
    d.logs && d.logs.length ? h("div", {}, h("div", { class: "nbflow-subtitle" }, "Logs"),
      h("pre", { class: "nbflow-logs" }, d.logs.join("\n"))) : null,
  ];

  const details = () => {
    const d = model.get("selected");
    if (!d || !d.node) return null;
    const title = d.key === null || d.key === undefined ? d.node : `${d.node}[${d.key}]`;
    const panel = h("div", { class: "nbflow-panel nbflow-run-details", dataset: { node: d.node, key: d.key ?? "" } },
      h("div", { class: "nbflow-panel-title" }, title, " ", badge(d.status)));
    if (d.mapped) {
      panel.append(h("div", {}, Object.entries(d.counts).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(" · ")));
      if (model.get("expanded").node === d.node) panel.append(button("Hide keys in graph", "collapse"));
      const table = keysTable(d);
      if (table) panel.append(table);
      return panel;
    }
    panel.append(...stepBody(d).filter(Boolean));
    const extra = { node: d.node, key: d.key ?? null };
    const keyed = d.key !== null && d.key !== undefined;
    panel.append(h("div", { class: "nbflow-buttons" },
      button(keyed ? "Rerun this key" : "Rerun this step", "rerun_step", extra, "Run this step again, nothing else"),
      button(keyed ? "Rerun this key downstream" : "Rerun with downstream", "rerun_downstream", extra,
        "Run this step again and what it feeds")));
    return panel;
  };

  const draw = () => {
    drawGraph(graph, model.get("svg"));
    const message = model.get("message");
    keepingScroll(graph, () => keepingFocus(root, () => root.replaceChildren(header(), progress() || "", graph,
      message ? h("div", { class: "nbflow-message" }, message) : "", details() || "")));
  };
  const events = ["run_id", "job_name", "status", "parent_run_id", "children", "svg", "progress", "selected",
    "key_page", "expanded", "checked", "message", "busy"].map((name) => `change:${name}`);
  for (const e of events) model.on(e, draw);
  draw();
  return () => { for (const e of events) model.off(e, draw); };
}

export default { render };
