// SensorView: status, interval and cursor; Start / Stop / Tick now / Preview; the tick
// history and the details of a tick. All state comes from the kernel through the model;
// buttons send {action: ...} messages that the kernel applies to the store.

const showCursor = (cursor) => (cursor === null || cursor === undefined ? "None" : JSON.stringify(cursor));

function render({ model, el }) {
  hideStaticPicture(model.get("view_id"));
  const root = h("div", { class: "nbflow-sensorview" });
  el.appendChild(root);
  const send = (action, extra = {}) => model.send({ action, ...extra });

  const button = (label, action, title) =>
    h("button", {
      class: `nbflow-btn nbflow-sensor-${action}`, title, dataset: { action },
      onclick: () => { model.set("busy", action); model.save_changes(); send(action); },
    }, label);

  const header = () => {
    const status = model.get("status");
    const detail = model.get("status_detail");
    const cursor = model.get("cursor");
    return h("div", { class: "nbflow-sensor-header" },
      h("div", { class: "nbflow-sensor-title" },
        h("span", { class: "nbflow-sensor-name" }, model.get("sensor_name")),
        h("span", { class: `nbflow-sensor-state nbflow-state-${status}`, dataset: { status } }, status),
        h("span", { class: "nbflow-muted" },
          `→ ${model.get("jobs").join(", ") || "no job"} · every ${model.get("interval")} s · `
          + `${model.get("tick_count")} ticks`)),
      detail ? h("div", { class: "nbflow-sensor-detail" }, detail) : null,
      h("div", { class: "nbflow-sensor-cursor" }, "cursor ",
        h("code", {}, showCursor(cursor))),
      h("div", { class: "nbflow-sensor-buttons" },
        status === "running" || status === "stopping"
          ? button("Stop", "stop", "Stop the background ticks")
          : button("Start", "start", "Tick in the background every interval"),
        button("Tick now", "tick", "Evaluate once and apply the result"),
        button("Preview", "preview", "Evaluate without applying anything"),
        model.get("busy") ? h("span", { class: "nbflow-muted nbflow-busy" }, `${model.get("busy")}…`) : null),
      model.get("message") ? h("div", { class: "nbflow-sensor-message" }, model.get("message")) : null);
  };

  // The traceback from the sensor's own code; nbflow's frames above it are a click away.
  let fullFor = null;
  const traceback = (d, id) => {
    const full = d.error_full && fullFor === id;
    const toggle = d.error_full ? h("button", { class: "nbflow-btn nbflow-link nbflow-traceback-toggle",
      onclick: () => { fullFor = full ? null : id; draw(); } },
      full ? "Show from the sensor's code" : "Show full traceback") : null;
    return h("div", {}, h("pre", { class: "nbflow-traceback", dataset: { full: String(!!full) } },
      full ? d.error_full : d.error), toggle);
  };

  const ticksTable = () => {
    const ticks = model.get("ticks");
    const selected = (model.get("selected") || {}).tick_id;
    if (!ticks.length) return h("div", { class: "nbflow-muted nbflow-empty" }, "No ticks yet.");
    const numeric = new Set(["keys added", "runs", "run keys skipped", "duration"]);
    const head = h("tr", {}, ...["time", "status", "keys added", "runs", "run keys skipped", "duration", ""]
      .map((t) => h("th", numeric.has(t) ? { class: "nbflow-num" } : {}, t)));
    const rows = ticks.map((t) => h("tr", {
      class: `nbflow-tick-row${t.tick_id === selected ? " nbflow-selected" : ""}`,
      dataset: { tickId: t.tick_id, status: t.status },
      onclick: () => send("select", { tick_id: t.tick_id }),
    },
      h("td", {}, t.time), h("td", {}, badge(t.status)), h("td", { class: "nbflow-num" }, t.keys_added),
      h("td", { class: "nbflow-num" }, t.runs), h("td", { class: "nbflow-num" }, t.run_keys_skipped),
      h("td", { class: "nbflow-num" }, `${t.duration_ms} ms`), h("td", { class: "nbflow-note" }, t.note)));
    return h("table", { class: "nbflow-table nbflow-ticks" }, h("thead", {}, head), h("tbody", {}, ...rows));
  };

  const keyList = (byName) => Object.entries(byName || {}).filter(([, keys]) => keys.length)
    .map(([name, keys]) => h("div", {}, h("b", {}, `${name}: `), keys.join(", ")));

  const details = () => {
    const d = model.get("selected");
    if (!d || !d.tick_id) return null;
    return h("div", { class: "nbflow-panel nbflow-tick-details", dataset: { tickId: d.tick_id } },
      h("div", { class: "nbflow-panel-title" }, "Tick ", badge(d.status),
        h("span", { class: "nbflow-muted" }, ` cursor ${showCursor(d.cursor_before)} → ${showCursor(d.cursor_after)}`)),
      d.skip_reason ? h("div", {}, d.skip_reason) : null,
      d.added_total ? h("div", {}, h("div", { class: "nbflow-subtitle" }, `Keys added (${d.added_total})`), ...keyList(d.added)) : null,
      keyList(d.deleted).length ? h("div", {}, h("div", { class: "nbflow-subtitle" }, "Keys deleted"), ...keyList(d.deleted)) : null,
      d.runs.length ? h("div", {}, h("div", { class: "nbflow-subtitle" }, `Runs (${d.runs_total})`),
        h("table", { class: "nbflow-table nbflow-tick-runs" }, h("tbody", {}, ...d.runs.map((r) =>
          h("tr", { dataset: { runId: r.run_id } }, h("td", {}, h("code", {}, r.run_id.slice(0, 8))),
            h("td", {}, r.job), h("td", {}, r.partition_key), h("td", {}, badge(r.status))))))) : null,
      d.run_keys_skipped.length ? h("div", {}, h("div", { class: "nbflow-subtitle" }, "Run keys skipped"),
        d.run_keys_skipped.join(", ")) : null,
      d.error ? traceback(d, `tick:${d.tick_id}`) : null,
      d.logs.length ? h("div", {}, h("div", { class: "nbflow-subtitle" }, "Output"),
        h("pre", { class: "nbflow-logs" }, d.logs.join("\n"))) : null);
  };

  const preview = () => {
    const p = model.get("preview");
    if (!p || !p.at) return null;
    const close = h("button", { class: "nbflow-btn nbflow-link nbflow-preview-close",
      onclick: () => send("close_preview") }, "close");
    if (p.error) {
      return h("div", { class: "nbflow-panel nbflow-preview", dataset: { outcome: "failure" } },
        h("div", { class: "nbflow-panel-title" }, `Preview at ${p.at}: would fail `, close),
        traceback(p, `preview:${p.at}`));
    }
    return h("div", { class: `nbflow-panel nbflow-preview${p.outdated ? " nbflow-outdated" : ""}`,
      dataset: { outcome: "ok" } },
      h("div", { class: "nbflow-panel-title" }, `Preview at ${p.at} (nothing applied) `, close),
      p.outdated ? h("div", { class: "nbflow-preview-outdated" }, p.outdated) : null,
      h("div", {}, `${p.new_total} new keys · ${p.existing_total} already present · `
        + `${p.runs_total} runs would launch · ${p.deduplicated.length} deduplicated by run key · cursor `
        + `${showCursor(p.cursor_before)} → ${showCursor(p.cursor_after)}`),
      p.skip_reason && !p.runs_total ? h("div", { class: "nbflow-muted" }, p.skip_reason) : null,
      ...keyList(p.new_keys),
      p.runs.length ? h("div", { class: "nbflow-muted" },
        "runs: " + p.runs.map((r) => r.partition_key || r.run_key || r.job).join(", ")) : null,
      p.logs.length ? h("pre", { class: "nbflow-logs" }, p.logs.join("\n")) : null);
  };

  const draw = () => {
    root.replaceChildren(header(), preview() || "", ticksTable(), details() || "");
  };
  const events = ["status", "status_detail", "cursor", "ticks", "tick_count", "selected", "preview",
    "message", "busy", "interval"].map((name) => `change:${name}`);
  for (const e of events) model.on(e, draw);
  draw();
  return () => { for (const e of events) model.off(e, draw); };
}

export default { render };
