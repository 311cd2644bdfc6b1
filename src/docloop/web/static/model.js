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
