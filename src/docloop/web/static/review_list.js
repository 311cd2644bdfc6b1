// The moderation queue: filters, the counts for the current filter, and a page of matching
// files that can be sorted by any column. Filter and sort live in the page's URL and travel to
// the editor, so "next" there walks this same queue in this same order.
import { api } from "./api.js";
import { sayTime } from "./dates.js";

const form = document.getElementById("filters");
const id = form.dataset.model;
const table = document.getElementById("files");
const body = table.querySelector("tbody");
const error = document.getElementById("queue-error");
const FILTERS = ["start", "end", "moderated", "label", "below"];
// Columns whose first click sorts largest first: the newest files, the most useful to review.
const DESCENDING_FIRST = new Set(["created_at", "usefulness"]);
const view = { sort: "created_at", order: "desc", limit: 50, cursor: null, prev: null, next: null, selected: 0 };

function confidence(score) {
  const span = document.createElement("span");
  if (score == null) { span.textContent = "-"; return span; }
  span.className = `score ${score < 0.5 ? "low" : score < 0.85 ? "medium" : "high"}`;
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.setProperty("--value", `${Math.round(score * 100)}%`);
  span.append(bar, `${Math.round(score * 100)}%`);
  return span;
}

function filters() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v !== "") params.set(k, v);
  params.set("sort", view.sort);
  params.set("order", view.order);
  if (view.limit !== 50) params.set("limit", view.limit);
  return params;
}

// Bad filters are said plainly, and the list of a previous filter never stays on screen.
function problem(message) {
  error.textContent = message;
  error.hidden = !message;
  if (message) {
    body.replaceChildren();
    for (const c of ["count-moderated", "count-unmoderated"]) document.getElementById(c).textContent = "-";
    document.getElementById("showing").textContent = "";
    for (const b of ["prev-page", "next-page"]) document.getElementById(b).disabled = true;
  }
}

function checkFilters() {
  const { start, end, below } = form;
  if (start.value && end.value && start.value > end.value) {
    return `The start date (${start.value}) is after the end date (${end.value}): change one of them.`;
  }
  if (below.value !== "" && !(Number(below.value) >= 0 && Number(below.value) <= 1)) {
    return "“Any field below” is a confidence between 0 and 1.";
  }
  return "";
}

async function load() {
  const bad = checkFilters();
  const query = filters();
  history.replaceState(null, "", `?${query}`);
  if (bad) { problem(bad); return; }
  const params = new URLSearchParams(query);
  params.set("limit", view.limit);
  if (view.cursor) params.set("cursor", view.cursor);
  let out;
  try {
    out = await api("GET", `/api/v1/models/${id}/review?${params}`);
  } catch (e) { problem(e.message); return; }
  problem("");
  document.getElementById("count-moderated").textContent = out.counts.moderated;
  document.getElementById("count-unmoderated").textContent = out.counts.unmoderated;
  document.getElementById("showing").textContent =
    `${out.files.length} shown of ${out.total} file${out.total === 1 ? "" : "s"}`;
  view.prev = out.prev_cursor ?? null;
  view.next = out.next_cursor ?? null;
  document.getElementById("prev-page").disabled = !view.prev;
  document.getElementById("next-page").disabled = !view.next;
  for (const th of table.querySelectorAll("th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === view.sort ? (view.order === "asc" ? "ascending" : "descending") : "none");
  }
  body.replaceChildren(...out.files.map((f) => row(f, query)));
  view.selected = Math.min(view.selected, out.files.length - 1);
  mark();
}

// A file whose first page cannot be drawn (what is stored is not a page image, as for files
// seeded by a benchmark or a fixture) shows its type instead of an empty grey box, and says so.
function noPreview(f) {
  const kind = (f.media_type?.split("/")[1] ?? f.filename.split(".").pop() ?? "file")
    .replace("jpeg", "jpg").slice(0, 4).toUpperCase();
  const icon = document.createElement("span");
  icon.className = "thumb no-preview";
  icon.setAttribute("role", "img");
  icon.setAttribute("aria-label", `${kind} file ${f.filename}, no preview`);
  icon.title = `${f.filename}: no page image to preview`;
  const name = document.createElement("span");
  name.className = "kind";
  name.textContent = kind;
  icon.append(name);
  return icon;
}

function row(f, query) {
  const tr = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `/models/${id}/review/${f.id}?${query}`;
  link.textContent = f.filename;
  const thumb = document.createElement("img");
  thumb.className = "thumb";
  thumb.alt = "";
  thumb.loading = "lazy";
  thumb.onerror = () => thumb.replaceWith(noPreview(f));
  thumb.src = f.thumbnail_url ?? `/api/v1/models/${id}/predictions/${f.id}/pages/0/image?max_side=240`;
  const received = document.createElement("time");
  received.dateTime = f.created_at;
  sayTime(received);
  const state = document.createElement("span");
  state.className = `state ${f.moderated ? "approved" : "waiting"}`;
  state.textContent = f.moderated ? `approved by ${f.moderated_by ?? "?"}` : "waiting";
  const useful = f.usefulness == null ? "-" : f.usefulness.toFixed(2);
  for (const c of [thumb, link, received, f.fields, f.flagged, confidence(f.min_score), useful, f.assigned_to ?? "", state]) {
    const td = document.createElement("td");
    td.append(c);
    tr.append(td);
  }
  tr.onclick = (ev) => { if (ev.target.tagName !== "A") location.href = link.href; };
  return tr;
}

function mark() {
  [...body.children].forEach((tr, i) => tr.classList.toggle("selected", i === view.selected));
  body.children[view.selected]?.scrollIntoView({ block: "nearest" });
}

// Opening the queue again (from the editor's link) restores its filter and sort.
function restore() {
  const params = new URLSearchParams(location.search);
  for (const k of FILTERS) if (params.has(k)) form[k].value = params.get(k);
  view.sort = params.get("sort") ?? view.sort;
  view.order = params.get("order") ?? view.order;
  view.limit = Number(params.get("limit")) || view.limit;
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); view.cursor = null; view.selected = 0; load(); });
for (const th of table.querySelectorAll("th[data-sort]")) {
  th.querySelector("button").onclick = () => {
    const key = th.dataset.sort;
    view.order = view.sort === key && view.order === "asc" ? "desc" : view.sort === key ? "asc"
      : DESCENDING_FIRST.has(key) ? "desc" : "asc";
    view.sort = key;
    view.cursor = null;
    load();
  };
}
document.getElementById("prev-page").onclick = () => { view.cursor = view.prev; load(); };
document.getElementById("next-page").onclick = () => { view.cursor = view.next; load(); };
document.addEventListener("keydown", (ev) => {
  if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (["BUTTON", "A"].includes(ev.target.tagName) && ev.key === "Enter") return;
  const rows = body.children.length;
  if ((ev.key === "j" || ev.key === "ArrowDown") && rows) view.selected = Math.min(rows - 1, view.selected + 1);
  else if ((ev.key === "k" || ev.key === "ArrowUp") && rows) view.selected = Math.max(0, view.selected - 1);
  else if ((ev.key === "Enter" || ev.key === "o") && rows) { body.children[view.selected].querySelector("a").click(); return; }
  else return;
  ev.preventDefault();
  mark();
});

restore();
load();
