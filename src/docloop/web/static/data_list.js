// The model's training files: open one to annotate it (or fix its annotations).
import { api } from "./api.js";

const table = document.getElementById("training-files");
const id = table.dataset.model;
const files = await api("GET", `/api/v1/models/${id}/files`);
table.querySelector("tbody").replaceChildren(...files.map((f) => {
  const tr = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `/models/${id}/data/${f.id}`;
  link.textContent = f.filename;
  for (const c of [link, f.object.length, f.source, f.created_at.slice(0, 19).replace("T", " ")]) {
    const td = document.createElement("td");
    td.append(c);
    tr.append(td);
  }
  return tr;
}));
