// The editor for reviewing predictions, annotating training files and second reviews: the page
// with its boxes (zoom, pan by scrolling, every page of a PDF), the fields beside it with a crop
// of each. The modes differ only in where fields are read and written: a review or an annotation
// saves every change at once through the native API; a second review reads the model's
// predictions without the first reviewer's decision, keeps changes in the tab until the reviewer
// submits them all (a reload keeps them), and never writes to the file itself.
//
// Keys are shortcuts only while no text box has the focus: selecting a field never puts the
// cursor in its text, editing is explicit (Enter or a click), Enter saves the text and Escape
// leaves it unchanged. Every change can be undone and redone (Ctrl-Z, Ctrl-Shift-Z).
import { api, flashNext } from "./api.js";

const root = document.getElementById("editor");
const model = root.dataset.model;
const fileId = root.dataset.file;
const labels = JSON.parse(root.dataset.labels);
const annotating = root.dataset.mode === "annotate";
const secondReview = root.dataset.mode === "second" ? root.dataset.review : null;
const reviewing = !annotating && !secondReview;
const opened = performance.now(); // review time: from opening the file to approving it
const base = annotating
  ? `/api/v1/models/${model}/files/${fileId}`
  : `/api/v1/models/${model}/predictions/${fileId}`;
// The queue's filter and sort travel with the editor's URL, so next and skip walk that queue.
// Opened from elsewhere (a prediction, a link), it walks the files waiting for review.
const queue = new URLSearchParams(location.search || "moderated=false");
const queueUrl = `/models/${model}/review${queue.size ? `?${queue}` : ""}`;

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

// A second review is read blind (what the model predicted, each field unchecked) and its draft
// kept per tab; each page's fields in the prediction shape.
const draftKey = `docloop-second-review-${secondReview}`;
function asSecondReview(r) {
  const draft = JSON.parse(sessionStorage.getItem(draftKey) ?? "null");
  return {
    filename: r.filename, moderated: false, decided_at: r.decided_at,
    result: r.pages.map(({ page, width, height }) => ({ id: page, page, size: { width, height },
      prediction: draft?.[page] ?? r.predicted.filter((p) => p.page === page)
        .map((p) => ({ ...p, id: crypto.randomUUID(), ocr_text: p.text, status: "correctly_predicted" })) })),
  };
}

async function store(action, id, preds, page) {
  if (secondReview) {
    page.prediction = preds;
    sessionStorage.setItem(draftKey, JSON.stringify(state.file.result.map((p) => p.prediction)));
    return;
  }
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

const state = { file: null, page: 0, preds: [], selected: -1, zoom: 1, fitted: true, draw: false, drag: null,
  handle: "se" };
// The edges and corners of a box, in the order `e` walks round them (Shift+E the other way): the
// one chosen is what Alt + arrows move, and it stays chosen from field to field.
const HANDLES = { se: "bottom-right corner", s: "bottom edge", sw: "bottom-left corner", w: "left edge",
  nw: "top-left corner", n: "top edge", ne: "top-right corner", e: "right edge" };
// Snapshots of the page's fields before each change (undo) and after each undo (redo).
const timeline = { undo: [], redo: [] };
let saving = Promise.resolve();
let pending = 0;

function pageView() { return state.file.result[state.page]; }

// What a reviewer's mark says, in words as well as in colour.
const MARKS = {
  correct: "✓ Correct", wrong: "✗ Wrong", corrected: "✎ Edited", added: "+ Added",
  correctly_predicted: "Unchecked", annotated: "",
};
// The status a field goes back to when its mark is cleared.
const UNMARKED = annotating ? "annotated" : "correctly_predicted";
// A moved, resized, relabelled or retyped field is "corrected", except one marked wrong: a
// rejected reading stays rejected until someone marks it otherwise (the server holds to the
// same rule). A drawn box stays a suggestion ("added") until its text is typed or confirmed.
const edited = (p, retyped = false) =>
  (p.status === "wrong" ? "wrong" : p.status === "added" && !retyped ? "added" : "corrected");

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
  state.file = annotating ? asFile(await api("GET", base))
    : secondReview ? asSecondReview(await api("GET", `/api/v1/second-reviews/${secondReview}`))
      : await api("GET", base);
  $("file-name").textContent = state.file.filename;
  document.title = `${state.file.filename} · ${document.title}`;
  $("page").replaceChildren(...state.file.result.map((_, i) => new Option(`${i + 1}`, i)));
  showPage(0);
  if (reviewing) {
    showPosition();
    $("assign").reviewer.value = state.file.assigned_to ?? "";
  }
}

function showPage(n) {
  state.page = n;
  state.preds = pageView().prediction.map((p) => ({ ...p }));
  state.selected = nearestShown(0, 1);
  timeline.undo = [];
  timeline.redo = [];
  $("page").value = n;
  const img = $("page-image");
  img.onload = () => { fit(); render(); };
  img.src = `${base}/pages/${n}/image`;
  showModerated();
}

function showModerated() {
  if (secondReview) {
    $("file-state").textContent = state.file.decided_at
      ? `Submitted ${state.file.decided_at.slice(0, 16).replace("T", " ")}`
      : "Second review: the model's reading. Mark each field correct or wrong, fix what is wrong, then submit.";
    $("submit-second").hidden = Boolean(state.file.decided_at);
    return;
  }
  $("file-state").textContent = annotating ? "Training file"
    : state.file.moderated ? `Approved${state.file.moderated_by ? ` by ${state.file.moderated_by}` : ""}`
      : "Waiting for review";
  $("file-state").className = `file-state ${state.file.moderated ? "approved" : ""}`;
  if (!annotating) $("unapprove").hidden = !state.file.moderated;
}

function size() { return pageView().size; }

function fit() {
  const box = $("canvas").getBoundingClientRect();
  state.zoom = Math.min(box.width / size().width, box.height / size().height, 4) || 1;
  state.fitted = true;
  renderBoxes();
}

function zoom(factor) {
  state.zoom = Math.max(0.1, Math.min(8, state.zoom * factor));
  state.fitted = false;
  renderBoxes();
}

// Zoom so that the selected field fills about half of the view, and scroll it to the middle.
function zoomToField() {
  const p = state.preds[state.selected];
  if (!p) return;
  const view = $("canvas");
  const w = Math.max(p.xmax - p.xmin, 1), h = Math.max(p.ymax - p.ymin, 1);
  state.zoom = Math.max(0.1, Math.min(8, view.clientWidth / (w * 2), view.clientHeight / (h * 3)));
  state.fitted = false;
  renderBoxes();
  view.scrollLeft = ((p.xmin + p.xmax) / 2) * state.zoom - view.clientWidth / 2;
  view.scrollTop = ((p.ymin + p.ymax) / 2) * state.zoom - view.clientHeight / 2;
}

// Boxes are redrawn on every change; the field list is rebuilt only when fields come or go,
// so typing, Tab and focus in the list are never interrupted. The redraw marks the rows
// (selected, status, shown, crop), so it comes after a rebuild.
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
  for (const li of $("field-list").children) markRow(li);
  if (secondReview && !$("second-unchecked").hidden) noteUnchecked(allFields().filter((p) => !setAside(p)));
  $("undo").disabled = timeline.undo.length === 0;
  $("redo").disabled = timeline.redo.length === 0;
}

function markRow(li) {
  const i = Number(li.dataset.i), p = state.preds[i];
  if (!p) return;
  li.hidden = !shown(i);
  li.classList.toggle("selected", i === state.selected);
  li.classList.remove("correct", "wrong", "corrected", "added", "correctly_predicted", "annotated");
  if (p.status) li.classList.add(p.status);
  li.querySelector(".marker").textContent = MARKS[p.status] ?? p.status ?? "";
  li.querySelector("button.correct").setAttribute("aria-pressed", String(p.status === "correct"));
  li.querySelector("button.wrong").setAttribute("aria-pressed", String(p.status === "wrong"));
  const text = li.querySelector("input.field-text");
  if (document.activeElement !== text) text.value = p.ocr_text ?? "";
  drawCrop(li.querySelector("canvas.crop"), p);
}

// The field's region of the page, drawn beside its text (redrawn only when the box changed).
function drawCrop(canvas, p) {
  const img = $("page-image");
  const key = `${img.src}|${p.xmin},${p.ymin},${p.xmax},${p.ymax}`;
  if (!img.complete || !img.naturalWidth || canvas.dataset.key === key) return;
  canvas.dataset.key = key;
  const w = Math.max(p.xmax - p.xmin, 1), h = Math.max(p.ymax - p.ymin, 1);
  const scale = Math.min(canvas.width / w, canvas.height / h);
  const c = canvas.getContext("2d");
  c.clearRect(0, 0, canvas.width, canvas.height);
  c.drawImage(img, p.xmin, p.ymin, w, h, 0, 0, w * scale, h * scale);
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
  const mark = { correct: "✓ ", wrong: "✗ " }[p.status] ?? "";
  t.textContent = `${mark}${p.label}: ${p.ocr_text}`;
  g.append(r, t);
  if (i === state.selected) {
    for (const role of Object.keys(HANDLES)) {
      const cx = role.includes("w") ? p.xmin : role.includes("e") ? p.xmax : (p.xmin + p.xmax) / 2;
      const cy = role.includes("n") ? p.ymin : role.includes("s") ? p.ymax : (p.ymin + p.ymax) / 2;
      const h = document.createElementNS(SVG, "rect");
      const s = (role === state.handle ? 12 : 8) / state.zoom;
      Object.entries({ x: cx - s / 2, y: cy - s / 2, width: s, height: s })
        .forEach(([k, v]) => h.setAttribute(k, v));
      h.classList.add("handle");
      h.classList.toggle("active", role === state.handle);
      h.dataset.role = role;
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

function confidence(score) {
  const s = score ?? 1;
  return s < 0.5 ? "low" : s < 0.85 ? "medium" : "high";
}

function button(name, cls, title, fn) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = name;
  b.className = cls;
  b.title = title;
  b.onclick = fn;
  return b;
}

function renderList() {
  const list = $("field-list");
  list.replaceChildren(...state.preds.map((p, i) => {
    const li = document.createElement("li");
    li.className = "field";
    li.dataset.i = i;
    li.onclick = (ev) => { if (ev.target === li || ev.target.tagName === "CANVAS") select(i); };
    const crop = document.createElement("canvas");
    crop.className = "crop";
    crop.width = 150;
    crop.height = 44;
    crop.setAttribute("role", "img");
    crop.setAttribute("aria-label", `the page under the ${p.label} box`);
    const label = document.createElement("select");
    label.setAttribute("aria-label", `label of field ${i + 1}`);
    label.append(...labels.map((l) => new Option(l, l, false, l === p.label)));
    label.onchange = () => change(i, { label: label.value, status: edited(state.preds[i]) }, "relabel");
    label.onfocus = () => select(i);
    const marker = document.createElement("span");
    marker.className = "marker";
    const score = document.createElement("span");
    score.className = `score ${confidence(p.score)}`;
    score.title = "the model's confidence";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.setProperty("--value", `${Math.round((p.score ?? 1) * 100)}%`);
    score.append(bar, `${Math.round((p.score ?? 1) * 100)}%`);
    const text = document.createElement("input");
    text.className = "field-text";
    text.value = p.ocr_text ?? "";
    text.setAttribute("aria-label", `text of field ${i + 1} (${p.label})`);
    text.onchange = () => change(i, { ocr_text: text.value, status: edited(state.preds[i], true) }, "edit_text");
    text.onfocus = () => select(i);
    const top = document.createElement("div");
    top.className = "field-top";
    top.append(label, marker, score);
    const actions = document.createElement("div");
    actions.className = "field-actions";
    actions.append(
      button("Correct", "correct", "Mark correct (c)", () => mark(i, "correct")),
      button("Wrong", "wrong", "Mark wrong (w)", () => mark(i, "wrong")),
      button("Clear", "clear", "Clear the mark (x)", () => mark(i, UNMARKED)),
      button("Zoom", "zoom", "Zoom to this field (z)", () => { select(i); zoomToField(); }),
      button("Delete", "delete", "Delete the field (Delete)", () => remove(i)),
    );
    const main = document.createElement("div");
    main.className = "field-main";
    main.append(top, text, actions);
    li.append(crop, main);
    if (p.flags?.length) {
      const why = document.createElement("p");
      why.className = "flags";
      why.textContent = `Check: ${p.flags.join("; ")}`;
      li.append(why);
    }
    return li;
  }));
}

// Selecting a field highlights it; it never moves the cursor into its text.
function select(i) {
  state.selected = i;
  renderBoxes();
  $("field-list").children[i]?.scrollIntoView({ block: "nearest" });
}

function editText() {
  const text = $("field-list").children[state.selected]?.querySelector("input.field-text");
  if (text) { text.focus(); text.select(); }
}

function save(action, id) {
  const preds = state.preds.map((p) => ({ ...p }));
  const page = pageView();
  $("saved").textContent = "Saving…";
  pending += 1;
  saving = saving.then(async () => {
    try {
      await store(action, id, preds, page);
      // "Saved" only once the last change made is stored, not an earlier one.
      if (pending === 1) {
        $("saved").textContent = secondReview ? "Kept in this tab until you submit"
          : `Saved ${new Date().toLocaleTimeString()}`;
      }
    } catch (e) {
      $("saved").textContent = `Not saved: ${e.message}`;
    } finally {
      pending -= 1;
    }
  });
  return saving;
}

const snapshot = () => state.preds.map((p) => ({ ...p }));

// Keep the fields as they were before a change, for undo; a new change ends what redo had.
function remember(before = snapshot()) {
  timeline.undo.push(before);
  timeline.redo = [];
}

function change(i, values, action) {
  remember();
  Object.assign(state.preds[i], values);
  renderBoxes();
  return save(action, state.preds[i].id);
}

function mark(i, status) {
  if (state.preds[i]) change(i, { status }, status === UNMARKED ? "mark_unreviewed" : `mark_${status}`);
}

function remove(i) {
  remember();
  const [gone] = state.preds.splice(i, 1);
  state.selected = i;
  keepSelectionShown();
  render();
  return save("delete", gone.id);
}

function travel(from, to, action) {
  const fields = from.pop();
  if (!fields) return;
  to.push(snapshot());
  state.preds = fields;
  keepSelectionShown();
  render();
  save(action);
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
  const before = snapshot();
  if (state.draw) {
    const p = { id: crypto.randomUUID(), label: $("new-label").value, xmin: at.x, ymin: at.y,
      xmax: at.x, ymax: at.y, score: 1, ocr_text: "", status: "added" };
    state.preds.push(p);
    state.selected = state.preds.length - 1;
    state.drag = { role: "se", i: state.selected, start: at, orig: { ...p }, created: true, before };
  } else if (g) {
    const i = Number(g.dataset.i);
    state.selected = i;
    state.drag = { role: ev.target.dataset.role, i, start: at, orig: { ...state.preds[i] }, before };
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
  Object.assign(p, d.role === "move" ? moved(o, dx, dy) : resized(o, d.role, dx, dy));
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
    await addBox(p, d.before);
    return;
  }
  if (!sameBox(p, d.orig)) {
    remember(d.before);
    p.status = edited(d.orig);
    renderBoxes();
    await save(d.role === "move" ? "move" : "resize", p.id);
  } else renderBoxes();
});

// A new box, drawn with the mouse or placed by keyboard: prefilled with the OCR text under it.
async function addBox(p, before) {
  remember(before);
  const q = new URLSearchParams({ xmin: p.xmin, ymin: p.ymin, xmax: p.xmax, ymax: p.ymax });
  try { p.ocr_text = (await api("GET", `${base}/pages/${state.page}/text?${q}`)).text; }
  catch (e) { $("saved").textContent = e.message; }
  state.selected = state.preds.indexOf(p);
  render();
  await save("add", p.id);
}

// Placing a box by keyboard: a quarter of the visible part of the page, in its middle.
function placeBox() {
  const view = $("canvas");
  const w = view.clientWidth / state.zoom, h = view.clientHeight / state.zoom;
  const cx = (view.scrollLeft + view.clientWidth / 2) / state.zoom;
  const cy = (view.scrollTop + view.clientHeight / 2) / state.zoom;
  const before = snapshot();
  const p = { id: crypto.randomUUID(), label: $("new-label").value, xmin: cx - w / 8, xmax: cx + w / 8,
    ymin: cy - h / 8, ymax: cy + h / 8, score: 1, ocr_text: "", status: "added" };
  clampBox(p);
  state.preds.push(p);
  setDraw(false);
  return addBox(p, before);
}

function setDraw(on) {
  state.draw = on;
  $("draw").setAttribute("aria-pressed", String(on));
  $("canvas").classList.toggle("drawing", on);
}

const sameBox = (a, b) => ["xmin", "ymin", "xmax", "ymax"].every((k) => a[k] === b[k]);
// A box moved by dx, dy; or with its edge or corner ``role`` (n, e, s, w or two of them) moved.
const moved = (o, dx, dy) => ({ xmin: o.xmin + dx, xmax: o.xmax + dx, ymin: o.ymin + dy, ymax: o.ymax + dy });
const resized = (o, role, dx, dy) => ({
  xmin: o.xmin + (role.includes("w") ? dx : 0), xmax: o.xmax + (role.includes("e") ? dx : 0),
  ymin: o.ymin + (role.includes("n") ? dy : 0), ymax: o.ymax + (role.includes("s") ? dy : 0),
});

// Arrows move the box; with Alt they move its chosen edge or corner. A key that changes nothing
// (an edge moved along itself, a box that would shrink under 3 px) is no change.
function nudge(p, dx, dy, resize) {
  const fields = snapshot(), before = { ...p };
  Object.assign(p, resize ? resized(p, state.handle, dx, dy) : moved(p, dx, dy));
  clampBox(p);
  if (p.xmax - p.xmin < 3 || p.ymax - p.ymin < 3) Object.assign(p, before);
  if (sameBox(p, before)) return;
  remember(fields);
  p.status = edited(before);
  renderBoxes();
  save(resize ? "resize" : "move", p.id);
}

// Choose the edge or corner that Alt + arrows move: the next one round the box (``step`` 1) or
// the one before (-1); said beside the fields and drawn larger on the box.
function chooseHandle(step) {
  const roles = Object.keys(HANDLES);
  state.handle = roles[(roles.indexOf(state.handle) + step + roles.length) % roles.length];
  $("resize-from").textContent = HANDLES[state.handle];
  renderBoxes();
}

// Where this file stands in the queue it was opened from ("file 3 of 9") and which file comes
// after it there: next, skip and approve walk that queue, with its filter, in its order.
let where = null;
async function position() {
  where ??= await api("GET", `/api/v1/models/${model}/review/${fileId}/position?${queue}`);
  return where;
}

async function showPosition() {
  try {
    const at = await position();
    $("position").textContent = at.position ? `file ${at.position} of ${at.total}`
      : `not in this queue (${at.total} file${at.total === 1 ? "" : "s"})`;
  } catch (e) { $("position").textContent = e.message; }
}

// The file after this one in the queue (where it stood before an approval took it out of a
// "waiting" queue); the queue page after its last file.
async function goNext() {
  const at = await position();
  location.href = at.next ? `/models/${model}/review/${at.next}?${queue}` : queueUrl;
}

// The fields of every page as they stand (this page's with its latest change).
function allFields() {
  return state.file.result.flatMap((p, n) => (n === state.page ? state.preds : p.prediction)
    .map((f) => ({ ...f, page: p.page })));
}

// A file whose every field is marked wrong holds none of the model's fields: say what approving
// it means before it is done.
function onlyWrongFields() {
  const fields = allFields().filter((p) => !setAside(p));
  return fields.length > 0 && fields.every((p) => p.status === "wrong");
}

async function approveAndNext(confirmed = false) {
  await saving;
  if (!confirmed && onlyWrongFields()) {
    $("empty-approval").hidden = false;
    $("empty-approval-yes").focus();
    return;
  }
  $("empty-approval").hidden = true;
  try {
    await position();
    const out = await api("PUT", `${base}/approval`, {
      review_seconds: (performance.now() - opened) / 1000,
    });
    if (out.added_to_training === false) {
      flashNext("Approved. Not added to training data: no field left after those marked wrong.");
    }
    await goNext();
  } catch (e) { $("saved").textContent = e.message; }
}

async function unapprove() {
  try {
    state.file = { ...state.file, ...await api("DELETE", `${base}/approval`) };
    showModerated();
    $("saved").textContent = "Back in the queue";
  } catch (e) { $("saved").textContent = e.message; }
}

// A second review is submitted once every shown field is checked: what is kept is what the
// reviewer marked correct, corrected or drew, never a field marked wrong or a doubted reading
// nobody confirmed (the same fields an approval keeps).
// Once shown, the note of fields still unchecked follows each mark, and goes when none is left.
function noteUnchecked(fields) {
  const unchecked = fields.filter((p) => p.status === "correctly_predicted").length;
  const notice = $("second-unchecked");
  notice.hidden = unchecked === 0;
  notice.textContent = `${unchecked} of ${fields.length} field${fields.length === 1 ? "" : "s"} not checked yet: `
    + "mark each one correct (c) or wrong (w) before you submit.";
  return unchecked;
}

async function submitSecondReview() {
  await saving;
  const fields = allFields().filter((p) => !setAside(p));
  if (noteUnchecked(fields)) {
    const first = state.preds.findIndex((p) => !setAside(p) && p.status === "correctly_predicted");
    if (first >= 0) select(first);
    return;
  }
  const kept = fields.filter((p) => p.status !== "wrong").map((p) => ({ page: p.page, label: p.label,
    ocr_text: p.ocr_text, xmin: p.xmin, ymin: p.ymin, xmax: p.xmax, ymax: p.ymax }));
  try {
    await api("PUT", `/api/v1/second-reviews/${secondReview}`, { fields: kept });
    sessionStorage.removeItem(draftKey);
    flashNext(`Second review of ${state.file.filename} submitted.`);
    location.href = "/second-reviews";
  } catch (e) { $("saved").textContent = `Not submitted: ${e.message}`; }
}

$("preannotate")?.addEventListener("click", async () => {
  try {
    const out = await api("POST", `${base}/preannotation`);
    remember();
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
  const error = $("assign-error");
  try {
    const out = await api("PUT", `${base}/assignee`, { reviewer: ev.target.reviewer.value || null });
    error.hidden = true;
    $("saved").textContent = out.assigned_to ? `Assigned to ${out.assigned_to}` : "Unassigned";
  } catch (e) {
    error.textContent = `Not assigned: ${e.message}`;
    error.hidden = false;
  }
});

if ($("back")) $("back").href = queueUrl;
$("zoom-in").onclick = () => zoom(1.25);
$("zoom-out").onclick = () => zoom(0.8);
$("zoom-fit").onclick = fit;
$("zoom-field").onclick = zoomToField;
$("page").onchange = () => showPage(Number($("page").value));
$("draw").onclick = () => setDraw(!state.draw);
$("undo").onclick = () => travel(timeline.undo, timeline.redo, "undo");
$("redo").onclick = () => travel(timeline.redo, timeline.undo, "redo");
$("help-open").onclick = () => $("help").showModal();
$("show-alternatives").onchange = () => { keepSelectionShown(); render(); };
if (secondReview) $("submit-second").onclick = submitSecondReview;
if (reviewing) {
  $("approve").onclick = () => approveAndNext();
  $("unapprove").onclick = unapprove;
  $("next").onclick = () => goNext();
  $("empty-approval-yes").onclick = () => approveAndNext(true);
  $("empty-approval-no").onclick = () => { $("empty-approval").hidden = true; };
}

// While a field's text is being edited, keys type; Enter saves it, Escape leaves it unchanged.
function editingKey(ev) {
  const text = ev.target;
  if (ev.key === "Enter") { ev.preventDefault(); text.blur(); }
  else if (ev.key === "Escape") {
    ev.preventDefault();
    text.value = state.preds[Number(text.closest("li").dataset.i)]?.ocr_text ?? "";
    text.blur();
  }
}

document.addEventListener("keydown", (ev) => {
  const target = ev.target;
  if ($("help").open) {
    if (ev.key === "?") { $("help").close(); ev.preventDefault(); }
    return;
  }
  if (target.classList?.contains("field-text")) { editingKey(ev); return; }
  if (["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) {
    if (ev.key === "Escape") target.blur();
    return;
  }
  // Enter and Space on a focused button or link do what they always do.
  if (["BUTTON", "A", "SUMMARY"].includes(target.tagName) && (ev.key === "Enter" || ev.key === " ")) return;
  const i = state.selected, p = state.preds[i];
  const ctrl = ev.ctrlKey || ev.metaKey;
  const step = ev.shiftKey ? 10 : 1;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if (ctrl && key === "z") travel(...(ev.shiftKey ? [timeline.redo, timeline.undo, "redo"] : [timeline.undo, timeline.redo, "undo"]));
  else if (ctrl && key === "y") travel(timeline.redo, timeline.undo, "redo");
  else if (ctrl) return;
  else if (ev.key === "Escape") { setDraw(false); $("empty-approval") && ($("empty-approval").hidden = true); }
  else if (moves[ev.key] && p) nudge(p, ...moves[ev.key], ev.altKey);
  else if (ev.key === "Enter" && state.draw) placeBox();
  else if (ev.key === "Enter" && p) editText();
  else if (ev.key === "j" || ev.key === "k") {
    const next = nearestShown(i + (ev.key === "j" ? 1 : -1), ev.key === "j" ? 1 : -1);
    if (next >= 0) select(next);
  }
  else if (ev.key === "e" || ev.key === "E") chooseHandle(ev.key === "e" ? 1 : -1);
  else if (ev.key === "c" && p) mark(i, "correct");
  else if (ev.key === "w" && p) mark(i, "wrong");
  else if (ev.key === "x" && p) mark(i, UNMARKED);
  else if ((ev.key === "Delete" || ev.key === "Backspace") && p) remove(i);
  else if (ev.key === "b") setDraw(!state.draw);
  else if (ev.key === "z") zoomToField();
  else if (ev.key === "+" || ev.key === "=") zoom(1.25);
  else if (ev.key === "-") zoom(0.8);
  else if (ev.key === "0") fit();
  else if (ev.key === "?") $("help").showModal();
  else if (ev.key === "a" && reviewing) approveAndNext();
  else if (ev.key === "u" && reviewing && state.file.moderated) unapprove();
  else if (ev.key === "n" && reviewing) goNext();
  else return;
  ev.preventDefault();
});

// A page shown whole is fitted again to the new size; one zoomed by hand keeps its zoom.
window.addEventListener("resize", () => (state.fitted ? fit() : renderBoxes()));
load();
