// PartitionsView: the key count, one page of keys with a status per job or asset, a filter,
// a box to add keys (one per line), delete (with a confirmation) and materialize the ticked
// keys, and the add/delete history. Only the visible page is in the model.

function render({ model, el }) {
  hideStaticPicture(model.get("view_id"));
  const root = h("div", { class: "nbflow-partitionsview" });
  el.appendChild(root);
  keepKeysInFields(root);
  const send = (action, extra = {}) => {
    model.set("busy", action);
    model.save_changes();
    model.send({ action, ...extra });
  };
  const button = (label, action, extra = {}, attrs = {}) =>
    h("button", { class: `nbflow-btn nbflow-parts-${action}`, dataset: { action }, ...attrs,
      onclick: () => send(action, typeof extra === "function" ? extra() : extra) }, label);

  // Kept across redraws: what is being typed must survive a refresh of the list.
  const addBox = h("textarea", { class: "nbflow-parts-add-text", rows: "3",
    placeholder: "keys to add, one per line" });
  // The filter last sent and not yet answered: typing a pattern and then ticking "regex" sends
  // two filters (the box's change on blur, then the tick); the answer to the first must not
  // untick the box.
  let pendingFilter = null;
  let sent = 0;
  const filterKey = (regex, text) => `${regex}:${text}`;
  const applyFilter = () => {
    const wanted = filterKey(regexBox.checked, filterBox.value);
    if (wanted !== (pendingFilter ?? filterKey(model.get("filter_regex"), model.get("filter_text")))) {
      pendingFilter = wanted;
      // Stamped, so the kernel never lets an older filter replace a newer one.
      sent = Math.max(Date.now(), sent + 1);
      send("filter", { text: filterBox.value, regex: regexBox.checked, sent });
    }
  };
  const filterBox = h("input", { class: "nbflow-parts-filter", type: "search", placeholder: "filter keys…",
    onchange: applyFilter, onsearch: applyFilter,
    onkeydown: (e) => { if (e.key === "Enter") applyFilter(); } });
  const regexBox = h("input", { type: "checkbox", class: "nbflow-parts-regex", onchange: () => applyFilter() });

  const setChecked = (key, on) => {
    const next = new Set(model.get("checked"));
    if (on) next.add(key); else next.delete(key);
    model.set("checked", [...next]);
    model.save_changes();
  };

  const header = () => h("div", { class: "nbflow-parts-header" },
    h("span", { class: "nbflow-parts-name" }, model.get("name")),
    h("span", { class: "nbflow-parts-count", dataset: { count: String(model.get("count")) } },
      `${model.get("count").toLocaleString()} keys`),
    button("Refresh", "refresh"),
    model.get("busy") ? h("span", { class: "nbflow-muted" }, `${model.get("busy")}…`) : null);

  // The filter fields never leave the page: a redraw that detached the checkbox between the
  // press and the release of a click would lose the click.
  const toolButtons = h("span", { class: "nbflow-parts-tool-buttons" });
  const toolsRow = h("div", { class: "nbflow-parts-tools" },
    filterBox, h("label", { class: "nbflow-muted" }, regexBox, " regex"), toolButtons);
  const headerSlot = h("div", { class: "nbflow-parts-slot" });
  const restSlot = h("div", { class: "nbflow-parts-slot" });
  root.append(headerSlot, toolsRow, restSlot);

  const tools = () => {
    const checked = model.get("checked");
    const job = model.get("can_materialize");
    const confirming = model.get("confirming");
    return [
      confirming
        ? h("span", { class: "nbflow-parts-confirm" },
          button(`Yes, delete ${checked.length}`, "confirm_delete", {}, { class: "nbflow-btn nbflow-danger nbflow-parts-confirm_delete" }),
          button("Cancel", "cancel_delete"))
        : button(`Delete selected (${checked.length})`, "delete", {}, { disabled: checked.length ? undefined : "disabled" }),
      button(`Materialize selected (${checked.length})`, "materialize", {},
        { disabled: job && checked.length ? undefined : "disabled",
          title: job ? `Run ${job} for the ticked keys` : "No single job for these partitions: use PartitionsView(definition, target=job)" }),
      h("span", { class: "nbflow-muted" }, model.get("filter_text")
        ? `${model.get("matched").toLocaleString()} match` : "")];
  };

  const table = () => {
    const columns = model.get("columns");
    const checked = new Set(model.get("checked"));
    const highlight = new Set(model.get("highlight"));
    const rows = model.get("rows");
    if (!rows.length) return h("div", { class: "nbflow-muted nbflow-empty" }, model.get("filter_text") ? "No key matches." : "No keys yet.");
    return h("table", { class: "nbflow-table nbflow-parts-table" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "key"), ...columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, ...rows.map((r) => h("tr", { class: `nbflow-parts-row${highlight.has(r.key) ? " nbflow-highlight" : ""}`,
        dataset: { key: r.key } },
        h("td", {}, h("input", { type: "checkbox", class: "nbflow-parts-check", checked: checked.has(r.key),
          onchange: (e) => setChecked(r.key, e.target.checked) })),
        h("td", { class: "nbflow-parts-key" }, r.key),
        ...columns.map((c) => {
          const s = r.status[c] || "missing";
          return h("td", {}, h("span", { class: `nbflow-pstatus nbflow-pstatus-${s}`, dataset: { status: s } }, s));
        })))));
  };

  const pager = () => {
    const page = model.get("page");
    const pages = model.get("pages");
    const first = page <= 0 ? "disabled" : undefined;
    const last = page + 1 >= pages ? "disabled" : undefined;
    const goToPage = (e) => {
      const wanted = Number.parseInt(e.target.value, 10);
      if (Number.isFinite(wanted) && wanted - 1 !== page) send("page", { page: Math.max(0, Math.min(pages, wanted) - 1) });
    };
    const pageBox = h("input", { class: "nbflow-parts-page-input", type: "number", min: "1", max: String(pages),
      value: String(page + 1), title: "Go to page", dataset: { focus: "page" }, onchange: goToPage,
      onkeydown: (e) => { if (e.key === "Enter") goToPage(e); } });
    const keyBox = h("input", { class: "nbflow-parts-find-text", type: "search", placeholder: "go to key…",
      dataset: { focus: "find" },
      onkeydown: (e) => { if (e.key === "Enter" && e.target.value) send("find", { key: e.target.value }); } });
    return h("div", { class: "nbflow-parts-pager" },
      h("button", { class: "nbflow-btn nbflow-parts-first", title: "First page", disabled: first,
        onclick: () => send("page", { page: 0 }) }, "«"),
      // One page back or on from the page the kernel shows when it gets the click, not the one
      // drawn here: two clicks faster than a redraw move two pages.
      button("‹", "page", { step: -1 }, { title: "Previous page", disabled: first }),
      h("span", { class: "nbflow-muted" }, "page ", pageBox, ` of ${pages.toLocaleString()}`),
      button("›", "page", { step: 1 }, { title: "Next page", disabled: last }),
      h("button", { class: "nbflow-btn nbflow-parts-last", title: "Last page", disabled: last,
        onclick: () => send("page", { page: pages - 1 }) }, "»"),
      keyBox,
      h("button", { class: "nbflow-btn nbflow-parts-find", onclick: () => { if (keyBox.value) send("find", { key: keyBox.value }); } },
        "Go"));
  };

  const adder = () => h("div", { class: "nbflow-parts-add" }, addBox,
    h("div", {}, button("Add keys", "add", () => ({ text: addBox.value }))),
    ...model.get("add_errors").map((e) => h("div", { class: "nbflow-parts-add-error", dataset: { line: String(e.line) } },
      `line ${e.line}: ${e.error}`)));

  const history = () => {
    const shown = model.get("show_history");
    const toggle = h("button", { class: "nbflow-btn nbflow-link nbflow-parts-history-toggle",
      onclick: () => send("history", { show: !shown }) }, shown ? "Hide history" : "Show history");
    if (!shown) return toggle;
    return h("div", { class: "nbflow-parts-history" }, toggle,
      h("table", { class: "nbflow-table" }, h("tbody", {}, ...model.get("history").map((e) =>
        h("tr", {}, h("td", {}, e.time), h("td", {}, e.action), h("td", { class: "nbflow-parts-key" }, e.key),
          h("td", { class: "nbflow-muted" }, e.source))))));
  };

  let lastAdd = null;
  let shownFilter = null;
  const draw = () => {
    // The filter fields follow the model only when the filter in the model changed: a redraw
    // for anything else (busy, a refresh) must not undo a half-typed pattern or a fresh tick.
    const filter = filterKey(model.get("filter_regex"), model.get("filter_text"));
    if (filter !== shownFilter) {
      shownFilter = filter;
      if (pendingFilter === null || pendingFilter === filter) {
        pendingFilter = null;
        filterBox.value = model.get("filter_text");
        regexBox.checked = model.get("filter_regex");
      }
    }
    // A successful add clears the box; errors keep what was typed so it can be fixed.
    const message = model.get("message");
    if (message !== lastAdd && message.startsWith("Added ")) addBox.value = "";
    lastAdd = message;
    keepingFocus(root, () => {
      headerSlot.replaceChildren(header());
      toolButtons.replaceChildren(...tools());
      restSlot.replaceChildren(
        model.get("filter_error") ? h("div", { class: "nbflow-parts-filter-error" }, model.get("filter_error")) : "",
        message ? h("div", { class: "nbflow-message" }, message) : "",
        table(), pager(), adder(), history());
    });
  };
  const events = ["name", "count", "matched", "page", "pages", "filter_text", "filter_regex", "filter_error",
    "columns", "rows", "checked", "add_errors", "confirming", "can_materialize", "history", "show_history",
    "message", "busy", "highlight"].map((n) => `change:${n}`);
  for (const e of events) model.on(e, draw);
  draw();
  return () => { for (const e of events) model.off(e, draw); };
}

export default { render };
