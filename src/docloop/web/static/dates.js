// Dates as people read them, shared by the pages that list files.

// A date people read at a glance: "Today, 08:29", "Yesterday, 17:02", "3 Dec, 08:29".
export function humanDate(iso) {
  const when = new Date(iso);
  const time = when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(new Date()) - day(when)) / 86_400_000);
  if (days === 0) return `Today, ${time}`;
  if (days === 1) return `Yesterday, ${time}`;
  const sameYear = when.getFullYear() === new Date().getFullYear();
  const date = when.toLocaleDateString(undefined, { day: "numeric", month: "short", year: sameYear ? undefined : "numeric" });
  return `${date}, ${time}`;
}

// A <time datetime> element said at a glance, with the exact time on hover.
export function sayTime(t) {
  t.title = t.dateTime.slice(0, 19).replace("T", " ");
  t.textContent = humanDate(t.dateTime);
  return t;
}
