// The editor for reviewing predictions and annotating training files: the page with its boxes
// (zoom, pan by scrolling, every page of a PDF), the fields beside it, and every change saved at
// once through the native API. The two modes differ only in where fields are read and written.
import { api } from "./api.js";

const root = document.getElementById("editor");
const model = root.dataset.model;
const fileId = root.dataset.file;
const labels = JSON.parse(root.dataset.labels);
const annotating = root.dataset.mode === "annotate";
const opened = performance.now(); // review time: from opening the file to approving it
const base = annotating
  ? `/api/v1/models/${model}/files/${fileId}`
  : `/api/v1/models/${model}/predictions/${fileId}`;

// Training files hold annotations in the upload shape; the editor works on prediction-shaped
// fields, so they are converted both ways. Fields without a box are kept aside, untouched.
let unboxed = [];
const toField = (o) => ({ id: crypto.randomUUID(), label: o.name, ...o.bndbox, ocr_text: o.ocr_text ?? "",
  score: 1, status: "annotated" });
const toObject = (p, page) => ({ name: p.label, ocr_text: p.ocr_text, page,
  bndbox: { xmin: p.xmin, ymin: p.ymin, xmax: p.xmax, ymax: p.ymax } });

function asFile(tf) {
  unboxed = tf.object.filter((o) => !o.bndbox);
  return {
    filename: tf.filename, moderated: false,
    result: tf.pages.map((size, page) => ({ id: page, page, size,
      prediction: tf.object.filter((o) => o.bndbox && o.page === page).map(toField) })),
  };
}

async function store(action, id, preds, page) {
  if (!annotating) {
    const out = await api("PUT", `${base}/pages/${page.id}`, { predicted_boxes: preds, change: { action, id } });
    page.prediction = out.prediction;
    return;
  }
  page.prediction = preds;
  const objects = state.file.result.flatMap((p) => p.prediction.map((f) => toObject(f, p.page)));
  await api("PUT", `${base}/annotations`, { object: [...objects, ...unboxed] });
}
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = { file: null, page: 0, preds: [], selected: -1, zoom: 1, draw: false, drag: null };
let saving = Promise.resolve();

function pageView() { return state.file.result[state.page]; }

// Readings the model doubted (the server marks them ``alternative``: below the threshold and
// below their label's best) stay out of sight until asked for or confirmed: most are noise, and
// the fields are what a reviewer checks. Annotations have none.
const setAside = (p) => Boolean(p?.alternative) && (p.status ?? "correctly_predicted") === "correctly_predicted";
const shown = (i) => !setAside(state.preds[i]) || $("show-alternatives")?.checked;
// The nearest shown field from ``i`` on in direction ``dir`` (-1 when none).
function nearestShown(i, dir) {
  for (let j = i; j >= 0 && j < state.preds.length; j += dir) if (shown(j)) return j;
  return -1;
}

// After fields went or were set aside: the selection moves to the next shown one, else back.
function keepSelectionShown() {
  const i = Math.min(state.selected, state.preds.length - 1);
  state.selected = i < 0 || shown(i) ? i : Math.max(nearestShown(i, 1), nearestShown(i, -1));
}

async function load() {
  state.file = annotating ? asFile(await api("GET", base)) : await api("GET", base);
  $("file-name").textContent = state.file.filename;
  $("page").replaceChildren(...state.file.result.map((_, i) => new Option(`${i + 1}`, i)));
  showPage(0);
}

function showPage(n) {
  state.page = n;
  state.preds = pageView().prediction.map((p) => ({ ...p }));
  state.selected = nearestShown(0, 1);
  $("page").value = n;
  const img = $("page-image");
  img.onload = () => { fit(); render(); };
  img.src = `${base}/pages/${n}/image`;
  $("file-state").textContent = annotating ? "Training file"
    : state.file.moderated ? "Approved" : "Waiting for review";
}

function size() { return pageView().size; }

function fit() {
  const box = $("canvas").getBoundingClientRect();
  state.zoom = Math.min(box.width / size().width, box.height / size().height, 4) || 1;
  renderBoxes();
}

function zoom(factor) { state.zoom = Math.max(0.1, Math.min(8, state.zoom * factor)); renderBoxes(); }

// Boxes are redrawn on every change; the field list is rebuilt only when fields come or go,
// so typing, Tab and focus in the list are never interrupted. The redraw marks the rows
// (selected, status, shown), so it comes after a rebuild.
function render() {
  renderList();
  renderBoxes();
}

function renderBoxes() {
  const { width, height } = size();
  const svg = $("overlay"), img = $("page-image"), stage = $("stage");
  for (const el of [svg, img, stage]) {
    el.style.width = `${width * state.zoom}px`;
    el.style.height = `${height * state.zoom}px`;
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren(...state.preds.flatMap((p, i) => (shown(i) ? [boxElement(p, i)] : [])));
  const doubted = state.preds.filter(setAside).length;
  $("alternatives").hidden = doubted === 0;
  $("alternatives-count").textContent = doubted;
  for (const li of $("field-list").children) {
    const i = Number(li.dataset.i);
    li.hidden = !shown(i);
    li.classList.toggle("selected", i === state.selected);
    li.classList.remove("correct", "wrong", "corrected", "added", "correctly_predicted");
    if (state.preds[i]?.status) li.classList.add(state.preds[i].status);
  }
}

// One field's box, label and (when selected) resize handles, in page pixels.
function boxElement(p, i) {
  const stroke = 2 / state.zoom;
  const g = document.createElementNS(SVG, "g");
  g.dataset.i = i;
  g.classList.add("box", p.status ?? "");
  if (p.flags?.length) g.classList.add("flagged");
  if (i === state.selected) g.classList.add("selected");
  const r = document.createElementNS(SVG, "rect");
  Object.entries({ x: p.xmin, y: p.ymin, width: p.xmax - p.xmin, height: p.ymax - p.ymin,
    "stroke-width": stroke }).forEach(([k, v]) => r.setAttribute(k, v));
  r.dataset.role = "move";
  const t = document.createElementNS(SVG, "text");
  t.setAttribute("x", p.xmin);
  t.setAttribute("y", p.ymin - 4 / state.zoom);
  t.setAttribute("font-size", 14 / state.zoom);
  t.textContent = `${p.label}: ${p.ocr_text}`;
  g.append(r, t);
  if (i === state.selected) {
    for (const [cx, cy, corner] of [[p.xmin, p.ymin, "nw"], [p.xmax, p.ymin, "ne"],
      [p.xmin, p.ymax, "sw"], [p.xmax, p.ymax, "se"]]) {
      const h = document.createElementNS(SVG, "rect");
      const s = 8 / state.zoom;
      Object.entries({ x: cx - s / 2, y: cy - s / 2, width: s, height: s })
        .forEach(([k, v]) => h.setAttribute(k, v));
      h.classList.add("handle");
      h.dataset.role = corner;
      g.append(h);
    }
  }
  return g;
}

// While dragging, only the dragged box is redrawn: smooth with a thousand boxes on the page.
function updateBox(i) {
  const old = $("overlay").querySelector(`g.box[data-i="${i}"]`);
  if (old) old.replaceWith(boxElement(state.preds[i], i));
  else renderBoxes();
}

function renderList() {
  const list = $("field-list");
  list.replaceChildren(...state.preds.map((p, i) => {
    const li = document.createElement("li");
    li.className = `field ${p.status ?? ""} ${i === state.selected ? "selected" : ""}`;
    li.dataset.i = i;
    const label = document.createElement("select");
    label.setAttribute("aria-label", "label");
    label.append(...labels.map((l) => new Option(l, l, false, l === p.label)));
    label.onchange = () => change(i, { label: label.value, status: "corrected" }, "relabel");
    label.onfocus = () => select(i, false);
    const text = document.createElement("input");
    text.value = p.ocr_text ?? "";
    text.setAttribute("aria-label", `${p.label} text`);
    text.onchange = () => change(i, { ocr_text: text.value, status: "corrected" }, "edit_text");
    text.onfocus = () => select(i, false);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `${Math.round((p.score ?? 1) * 100)}%`;
    const buttons = [["Correct", "correct", () => change(i, { status: "correct" }, "mark_correct")],
      ["Wrong", "wrong", () => change(i, { status: "wrong" }, "mark_wrong")],
      ["Delete", "delete", () => remove(i)]].map(([name, cls, fn]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = name;
      b.className = cls;
      b.onclick = fn;
      return b;
    });
    li.append(label, text, score, ...buttons);
    if (p.flags?.length) {
      const why = document.createElement("p");
      why.className = "flags";
      why.textContent = `Check: ${p.flags.join("; ")}`;
      li.append(why);
    }
    return li;
  }));
}

function select(i, focus = true) {
  state.selected = i;
  renderBoxes();
  if (focus) $("field-list").children[i]?.querySelector("input")?.focus({ preventScroll: false });
}

function save(action, id) {
  const preds = state.preds.map((p) => ({ ...p }));
  const page = pageView();
  $("saved").textContent = "Saving…";
  saving = saving.then(async () => {
    try {
      await store(action, id, preds, page);
      $("saved").textContent = `Saved ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      $("saved").textContent = `Not saved: ${e.message}`;
    }
  });
  return saving;
}

function change(i, values, action) {
  Object.assign(state.preds[i], values);
  renderBoxes();
  return save(action, state.preds[i].id);
}

function remove(i) {
  const [gone] = state.preds.splice(i, 1);
  state.selected = i;
  keepSelectionShown();
  render();
  return save("delete", gone.id);
}

function point(ev) {
  const svg = $("overlay");
  const pt = svg.createSVGPoint();
  pt.x = ev.clientX;
  pt.y = ev.clientY;
  return pt.matrixTransform(svg.getScreenCTM().inverse());
}

function clampBox(p) {
  const { width, height } = size();
  const x0 = Math.max(0, Math.min(p.xmin, p.xmax)), x1 = Math.min(width, Math.max(p.xmin, p.xmax));
  const y0 = Math.max(0, Math.min(p.ymin, p.ymax)), y1 = Math.min(height, Math.max(p.ymin, p.ymax));
  Object.assign(p, { xmin: Math.round(x0), ymin: Math.round(y0), xmax: Math.round(x1), ymax: Math.round(y1) });
}

$("overlay").addEventListener("pointerdown", (ev) => {
  const at = point(ev);
  const g = ev.target.closest("g.box");
  if (state.draw) {
    const p = { id: crypto.randomUUID(), label: $("new-label").value, xmin: at.x, ymin: at.y,
      xmax: at.x, ymax: at.y, score: 1, ocr_text: "", status: "added" };
    state.preds.push(p);
    state.selected = state.preds.length - 1;
    state.drag = { role: "se", i: state.selected, start: at, orig: { ...p }, created: true };
  } else if (g) {
    const i = Number(g.dataset.i);
    state.selected = i;
    state.drag = { role: ev.target.dataset.role, i, start: at, orig: { ...state.preds[i] } };
  } else return;
  try { $("overlay").setPointerCapture(ev.pointerId); } catch { /* a synthetic pointer */ }
  ev.preventDefault();
  if (state.drag.created) render(); else renderBoxes();
});

$("overlay").addEventListener("pointermove", (ev) => {
  const d = state.drag;
  if (!d) return;
  const at = point(ev), dx = at.x - d.start.x, dy = at.y - d.start.y;
  const p = state.preds[d.i], o = d.orig;
  if (d.role === "move") Object.assign(p, { xmin: o.xmin + dx, xmax: o.xmax + dx, ymin: o.ymin + dy, ymax: o.ymax + dy });
  else {
    if (d.role.includes("w")) p.xmin = o.xmin + dx; else p.xmax = o.xmax + dx;
    if (d.role.includes("n")) p.ymin = o.ymin + dy; else p.ymax = o.ymax + dy;
  }
  updateBox(d.i);
});

$("overlay").addEventListener("pointerup", async () => {
  const d = state.drag;
  if (!d) return;
  state.drag = null;
  const p = state.preds[d.i];
  clampBox(p);
  if (d.created) {
    setDraw(false);
    if (p.xmax - p.xmin < 3 || p.ymax - p.ymin < 3) { state.preds.splice(d.i, 1); render(); return; }
    const q = new URLSearchParams({ xmin: p.xmin, ymin: p.ymin, xmax: p.xmax, ymax: p.ymax });
    p.ocr_text = (await api("GET", `${base}/pages/${state.page}/text?${q}`)).text;
    render();
    await save("add", p.id);
    select(d.i);
    return;
  }
  const moved = ["xmin", "ymin", "xmax", "ymax"].some((k) => p[k] !== d.orig[k]);
  if (moved) { p.status = "corrected"; renderBoxes(); await save(d.role === "move" ? "move" : "resize", p.id); }
  else renderBoxes();
});

function setDraw(on) {
  state.draw = on;
  $("draw").setAttribute("aria-pressed", String(on));
  $("canvas").classList.toggle("drawing", on);
}

async function approveAndNext() {
  await saving;
  try {
    await api("PUT", `${base}/approval`, { review_seconds: (performance.now() - opened) / 1000 });
    await goNext();
  } catch (e) { $("saved").textContent = e.message; }
}

async function goNext() {
  const out = await api("GET", `/api/v1/models/${model}/review/next?current=${fileId}`);
  location.href = out.next ? `/models/${model}/review/${out.next}` : `/models/${model}/review`;
}

$("preannotate")?.addEventListener("click", async () => {
  try {
    const out = await api("POST", `${base}/preannotation`);
    for (const p of state.file.result) {
      p.prediction = out.object.filter((o) => o.page === p.page && o.bndbox).map(toField);
    }
    state.preds = pageView().prediction.map((p) => ({ ...p }));
    state.selected = state.preds.length ? 0 : -1;
    render();
    await save(`preannotate_${out.source}`);
  } catch (e) { $("saved").textContent = e.message; }
});

$("assign")?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const out = await api("PUT", `${base}/assignee`, { reviewer: ev.target.reviewer.value || null });
    $("saved").textContent = out.assigned_to ? `Assigned to ${out.assigned_to}` : "Unassigned";
  } catch (e) { $("saved").textContent = e.message; }
});

$("zoom-in").onclick = () => zoom(1.25);
$("zoom-out").onclick = () => zoom(0.8);
$("zoom-fit").onclick = fit;
$("page").onchange = () => showPage(Number($("page").value));
$("draw").onclick = () => setDraw(!state.draw);
$("show-alternatives").onchange = () => { keepSelectionShown(); render(); };
if (!annotating) {
  $("approve").onclick = approveAndNext;
  $("next").onclick = goNext;
}

document.addEventListener("keydown", (ev) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName);
  if (typing && ev.key !== "Escape") return;
  const i = state.selected, p = state.preds[i];
  const step = ev.shiftKey ? 10 : 1;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (ev.key === "Escape") { ev.target.blur?.(); setDraw(false); return; }
  if (moves[ev.key] && p) {
    const [dx, dy] = moves[ev.key];
    Object.assign(p, { xmin: p.xmin + dx, xmax: p.xmax + dx, ymin: p.ymin + dy, ymax: p.ymax + dy, status: "corrected" });
    clampBox(p); renderBoxes(); save("move", p.id);
  } else if (ev.key === "j" || ev.key === "k") {
    const next = nearestShown(i + (ev.key === "j" ? 1 : -1), ev.key === "j" ? 1 : -1);
    if (next >= 0) select(next);
  }
  else if (ev.key === "c" && p) change(i, { status: "correct" }, "mark_correct");
  else if (ev.key === "w" && p) change(i, { status: "wrong" }, "mark_wrong");
  else if ((ev.key === "Delete" || ev.key === "Backspace") && p) remove(i);
  else if (ev.key === "b") setDraw(!state.draw);
  else if (ev.key === "+" || ev.key === "=") zoom(1.25);
  else if (ev.key === "-") zoom(0.8);
  else if (ev.key === "0") fit();
  else if (ev.key === "a" && !annotating) approveAndNext();
  else if (ev.key === "n" && !annotating) goNext();
  else return;
  ev.preventDefault();
});

window.addEventListener("resize", () => renderBoxes());
load();
