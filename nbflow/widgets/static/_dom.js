// _dom.js: the DOM helpers every nbflow view uses. The kernel puts this file in front of each
// view's module when it builds the widget's ESM (nbflow/widgets/base.py: view_module), so the
// views share one copy without importing files the front end cannot reach.

// h("div", {class: "x", dataset: {k: "v"}, onclick: f}, child, [children], "text"): an element.
// Attributes that are null, undefined or false are left out; "checked" and "value" are set as
// properties (what the user sees), "on<event>" adds a listener.
const h = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  // JupyterLab's shortcuts ignore keys typed in an element marked so: typing "b" or Enter in
  // a filter box must not insert a cell or enter the cell's editor.
  if (tag === "input" || tag === "textarea" || tag === "select") node.setAttribute("data-lm-suppress-shortcuts", "true");
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "value") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

// A run or step status as a coloured badge.
const badge = (status) =>
  h("span", { class: `nbflow-badge nbflow-status-${String(status).toLowerCase()}` }, status);

// Keys typed in a field are the field's: the notebook around the view never sees them
// (JupyterLab would otherwise take Enter in a text area, or run its shortcuts).
const keepKeysInFields = (root) => root.addEventListener("keydown", (event) => {
  if (event.target.matches("input, textarea, select")) event.stopPropagation();
});

// Redrawing replaces the view's elements. The field being typed in keeps the focus, the caret
// and what was typed (a field recreated by the redraw is found again by its data-focus key).
const keepingFocus = (root, redraw) => {
  const active = root.contains(document.activeElement) ? document.activeElement : null;
  const caret = active && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
  redraw();
  if (!active) return;
  const key = active.dataset.focus;
  const again = root.contains(active) ? active : key ? root.querySelector(`[data-focus="${CSS.escape(key)}"]`) : null;
  if (!again) return;
  if (again !== active && "value" in active && active.type !== "checkbox") again.value = active.value;
  if (document.activeElement !== again) again.focus();
  if (caret && typeof again.setSelectionRange === "function") {
    try { again.setSelectionRange(caret[0], caret[1]); } catch (e) { /* not a text field */ }
  }
};

// Puts the kernel's SVG into the graph's box only when it changed: every other redraw (a
// click, a progress tick, a message) keeps the drawn elements, so a text selection in the
// graph, its hover state and anything the browser attached to them stay. Returns whether it
// drew. The box keeps its scroll position across the redraw of the view around it.
const graphSvgs = new WeakMap();
const drawGraph = (box, svg) => {
  if (graphSvgs.get(box) === svg) return false;
  graphSvgs.set(box, svg);
  box.innerHTML = svg;
  return true;
};
const keepingScroll = (box, redraw) => {
  const [left, top] = [box.scrollLeft, box.scrollTop];
  redraw();
  if (box.scrollLeft !== left) box.scrollLeft = left;
  if (box.scrollTop !== top) box.scrollTop = top;
};

// Front ends without widgets show the static picture displayed just above this view; here
// the view is drawn, so that picture is hidden (also after the kernel updates it).
const hideStaticPicture = (id) => {
  if (!id || document.getElementById(`nbflow-static-${id}`)) return;
  const style = document.createElement("style");
  style.id = `nbflow-static-${id}`;
  style.textContent = `.jp-OutputArea-child:has([data-nbflow-static="${id}"]), [data-nbflow-static="${id}"] `
    + "{ display: none !important; }";
  document.head.append(style);
};

