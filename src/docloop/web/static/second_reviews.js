// The second reviewer's list: rendered by the server; dates said at a glance, and the banner
// that says a review was just submitted (api.js shows it).
import "./api.js";
import { sayTime } from "./dates.js";

document.querySelectorAll("time[datetime]").forEach(sayTime);
