// Calls to the native API from a signed-in page: the session cookie goes by itself, the CSRF
// token from the page goes with every write.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export async function api(method, path, body) {
  const init = { method, headers: { "X-CSRF-Token": csrf } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error(data?.message ?? `${res.status} ${res.statusText}`);
  return data;
}

// A message for the next page (the page that says it is about to be left): shown there once, in
// the banner every page has.
const FLASH = "docloop-flash";
export function flashNext(text) { sessionStorage.setItem(FLASH, text); }
const waiting = sessionStorage.getItem(FLASH);
if (waiting) {
  sessionStorage.removeItem(FLASH);
  const banner = document.getElementById("flash");
  if (banner) { banner.textContent = waiting; banner.hidden = false; }
}
