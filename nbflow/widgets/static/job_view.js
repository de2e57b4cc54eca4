// JobView: the job's graph; clicking an op shows its inputs, outputs and description.

function render({ model, el }) {
  hideStaticPicture(model.get("view_id"));
  const root = h("div", { class: "nbflow-runview nbflow-jobview" });
  el.appendChild(root);
  const graph = h("div", { class: "nbflow-graph", title: "Click an op for what it takes and gives" });
  graph.addEventListener("click", (event) => {
    const g = event.target.closest("g.node");
    const id = g ? g.getAttribute("id") || "" : "";
    if (id.startsWith("node:")) model.send({ action: "select", node: id.slice(5) });
  });
  const details = () => {
    const d = model.get("selected");
    if (!d || !d.node) return "";
    const rows = (title, entries) => Object.keys(entries).length
      ? h("div", {}, h("span", { class: "nbflow-subtitle" }, `${title}: `),
        Object.entries(entries).map(([k, v]) => (v ? `${k} (${v})` : k)).join(", "))
      : null;
    return h("div", { class: "nbflow-panel nbflow-job-details", dataset: { node: d.node } },
      h("div", { class: "nbflow-panel-title" }, d.node, d.mapped ? " (mapped)" : ""),
      d.description ? h("div", {}, d.description) : null,
      rows("inputs", d.inputs), rows("outputs", d.outputs),
      d.config ? h("div", {}, h("span", { class: "nbflow-subtitle" }, "config: "), h("code", {}, d.config)) : null);
  };
  const draw = () => {
    drawGraph(graph, model.get("svg"));
    const partitions = model.get("partitions");
    keepingScroll(graph, () => root.replaceChildren(
      h("div", { class: "nbflow-run-header" }, h("span", { class: "nbflow-run-job" }, model.get("job_name")),
        h("span", { class: "nbflow-muted" }, partitions ? `partitioned by ${partitions}` : "job"),
        model.get("description") ? h("span", { class: "nbflow-muted" }, `· ${model.get("description")}`) : null),
      graph, details()));
  };
  const events = ["svg", "selected", "job_name", "description", "partitions"].map((n) => `change:${n}`);
  for (const e of events) model.on(e, draw);
  draw();
  return () => { for (const e of events) model.off(e, draw); };
}

export default { render };
