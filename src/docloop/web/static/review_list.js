// The moderation queue: filters, the counts for the current filter, and the matching files.
import { api } from "./api.js";

const form = document.getElementById("filters");
const id = form.dataset.model;

async function load() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v !== "") params.set(k, v);
  const out = await api("GET", `/api/v1/models/${id}/review?${params}`);
  document.getElementById("count-moderated").textContent = out.counts.moderated;
  document.getElementById("count-unmoderated").textContent = out.counts.unmoderated;
  const body = document.querySelector("#files tbody");
  body.replaceChildren(...out.files.map((f) => {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = `/models/${id}/review/${f.id}`;
    link.textContent = f.filename;
    const cells = [link, f.created_at.slice(0, 19).replace("T", " "), f.fields, f.flagged,
      f.min_score ?? "-", f.assigned_to ?? "",
      f.moderated ? `approved by ${f.moderated_by ?? "?"}` : "waiting"];
    for (const c of cells) {
      const td = document.createElement("td");
      td.append(c);
      tr.append(td);
    }
    return tr;
  }));
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
load();
