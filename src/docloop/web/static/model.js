// The model page: live training progress and ETA, upload, retrain, predict on a file.
import { api } from "./api.js";

const root = document.getElementById("model");
const id = root.dataset.model;
const message = document.getElementById("message");
const say = (text) => { message.textContent = text; };

function eta(seconds) {
  if (seconds == null) return "";
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return m ? `about ${m} min ${s} s left` : `about ${s} s left`;
}

async function refresh() {
  const m = await api("GET", `/api/v1/models/${id}`);
  document.getElementById("status").textContent = m.status;
  const box = document.getElementById("progress");
  box.hidden = m.progress == null;
  if (m.progress != null) {
    document.getElementById("progress-bar").value = m.progress;
    document.getElementById("progress-text").textContent =
      `${Math.round(m.progress * 100)}% ${eta(m.eta_seconds)}`;
  }
  return m;
}

let wasBusy = false;
async function poll() {
  try {
    const m = await refresh();
    const busy = m.state === 3 || m.state === 4;
    if (wasBusy && !busy) location.reload(); // a new version: show it in the table
    wasBusy = busy;
  } catch (e) { say(e.message); }
  setTimeout(poll, 2000);
}
poll();

document.getElementById("train")?.addEventListener("click", async () => {
  try { await api("POST", `/api/v1/models/${id}/train`); say("Training queued."); wasBusy = true; }
  catch (e) { say(e.message); }
});

document.getElementById("upload")?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const out = await api("POST", `/api/v1/models/${id}/files`, new FormData(ev.target));
    say(`Uploaded ${out.files.length} file(s).`);
  } catch (e) { say(e.message); }
});

document.getElementById("predict")?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const out = await api("POST", `/api/v1/models/${id}/predictions`, new FormData(ev.target));
    location.href = `/models/${id}/review/${out.pages[0].request_file_id}`;
  } catch (e) { say(e.message); }
});

async function showStats() {
  const s = await api("GET", `/api/v1/models/${id}/review/stats`);
  const rate = s.automation_rate == null ? "-" : `${Math.round(s.automation_rate * 100)}%`;
  document.getElementById("stats").textContent =
    `Processed ${s.processed} · approved ${s.approved} (straight through ${s.straight_through}) · ` +
    `automation rate ${rate} · fields changed by reviewers ${s.fields_changed}`;
}
if (document.getElementById("stats")) showStats().catch((e) => say(e.message));

const routing = document.getElementById("routing");
if (routing) {
  const fill = (r) => {
    routing.threshold.value = r.threshold ?? "";
    routing.webhook_url.value = r.webhook_url ?? "";
    for (const tr of routing.querySelectorAll("tr[data-label]")) {
      const rule = r.rules[tr.dataset.label] ?? {};
      for (const input of tr.querySelectorAll("input, select")) {
        if (input.type === "checkbox") input.checked = Boolean(rule[input.name]);
        else input.value = rule[input.name] ?? "";
      }
    }
  };
  api("GET", `/api/v1/models/${id}/routing`).then(fill).catch((e) => say(e.message));
  routing.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const rules = {};
    for (const tr of routing.querySelectorAll("tr[data-label]")) {
      const rule = {};
      for (const input of tr.querySelectorAll("input, select")) {
        if (input.type === "checkbox") { if (input.checked) rule[input.name] = true; }
        else if (input.value !== "") rule[input.name] = input.type === "number" ? Number(input.value) : input.value;
      }
      if (Object.keys(rule).length) rules[tr.dataset.label] = rule;
    }
    const body = {
      threshold: routing.threshold.value === "" ? null : Number(routing.threshold.value),
      rules, webhook_url: routing.webhook_url.value || null,
    };
    try { fill(await api("PUT", `/api/v1/models/${id}/routing`, body)); say("Routing saved."); }
    catch (e) { say(e.message); }
  });
}

const exportForm = document.getElementById("export");
if (exportForm) {
  const today = new Date().toISOString().slice(0, 10);
  exportForm.start.value = exportForm.end.value = today;
  const status = document.getElementById("export-status");
  exportForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      let job = await api("POST", `/api/v1/models/${id}/exports`, {
        format: exportForm.format.value, start: exportForm.start.value, end: exportForm.end.value,
      });
      while (job.status === "queued" || job.status === "running") {
        status.textContent = `Exporting… ${Math.round(job.progress * 100)}%`;
        await new Promise((r) => setTimeout(r, 1000));
        job = await api("GET", `/api/v1/exports/${job.id}`);
      }
      if (job.status !== "done") throw new Error(job.error ?? job.status);
      status.replaceChildren(`${job.rows} file(s): `);
      const link = document.createElement("a");
      link.href = job.download;
      link.id = "export-download";
      link.textContent = `download ${job.format.toUpperCase()}`;
      status.append(link);
    } catch (e) { status.textContent = e.message; }
  });
}

document.getElementById("promote")?.addEventListener("click", async (ev) => {
  const version = Number(ev.target.dataset.version);
  try {
    await api("PUT", `/api/v1/models/${id}/production`, { version });
    location.reload();
  } catch (e) { say(e.message); }
});
