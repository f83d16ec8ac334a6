"""The status page's stylesheet and script, inlined into every answer: the page loads
nothing else, so it works offline and behind the web config's TLS and basic auth."""

from __future__ import annotations

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 1.5em 2em; color: #1f2328; }
header { display: flex; align-items: baseline; gap: 1.5em; flex-wrap: wrap; }
header nav a { margin-right: 1em; }
a { color: #0969da; }
.demo { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.5em 0.8em; margin: 0.5em 0; }
.demo code { background: #fff; padding: 0 0.2em; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; margin: 0.8em 0; }
dl.summary dt { color: #59636e; }
dl.summary dd { margin: 0; }
.alarm { color: #cf222e; font-weight: 600; }
.counts a, .counts span { margin-right: 0.9em; }
.counts a.chosen { font-weight: 700; text-decoration: none; color: #1f2328; }
form.find { margin: 0.6em 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border-bottom: 1px solid #d1d9e0; padding: 0.35em 0.5em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.page .id { color: #59636e; font-family: ui-monospace, monospace; font-size: 0.9em; display: block; }
.badge { display: inline-block; padding: 0 0.5em; border-radius: 0.8em; font-weight: 600; color: #fff; }
.badge.up { background: #1a7f37; } .badge.failing { background: #cf222e; }
.badge.stale { background: #953800; } .badge.held { background: #8250df; }
.badge.pending { background: #9a6700; }
.until { display: block; font-size: 0.9em; color: #59636e; }
.token.valid { color: #1a7f37; } .token.expiring { color: #9a6700; font-weight: 600; }
.token.invalid { color: #cf222e; font-weight: 600; } .token.unchecked { color: #59636e; }
.error { color: #cf222e; }
.recovered { color: #8c959f; font-size: 0.88em; }
.error code, .recovered code { font-weight: 600; }
time[title] { text-decoration: underline dotted; white-space: nowrap; }
span.token, .badge { white-space: nowrap; }
.pager a { margin-right: 1em; }
#live { color: #59636e; font-size: 0.85em; }
#live.lost { color: #cf222e; }
"""

# Times carry their unix time (data-ts); the script rewrites "12 s ago" every second against
# the server's clock (the page's data-now), polls the small status.json, and when it changed
# (or a minute passed) fetches this same page again and swaps in its <main>.
SCRIPT = """
"use strict";
(function () {
  var main = document.getElementById("status");
  var live = document.getElementById("live");
  if (!main) { return; }
  var every = Number(document.body.getAttribute("data-poll-seconds")) * 1000;
  var skew = 0, loaded = Date.now(), refreshes = 0, busy = false;
  function sync() { skew = Number(main.getAttribute("data-now")) * 1000 - Date.now(); }
  function span(s) {
    if (s < 60) { return Math.floor(s) + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h"; }
    return Math.floor(s / 86400) + " d";
  }
  function tick() {
    var now = (Date.now() + skew) / 1000;
    var times = document.querySelectorAll("time[data-ts]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i], d = Number(el.getAttribute("data-ts")) - now;
      var past = el.getAttribute("data-past");
      if (Math.abs(d) < 1) { el.textContent = "now"; }
      else if (d > 0) { el.textContent = "in " + span(d); }
      else { el.textContent = past !== null ? past : span(-d) + " ago"; }
    }
  }
  function say(text, lost) { if (live) { live.textContent = text; live.className = lost ? "lost" : ""; } }
  function swap(text) {
    var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("status");
    if (!fresh) { throw new Error("no status in the answer"); }
    main.replaceWith(fresh);
    main = fresh;
    loaded = Date.now();
    refreshes += 1;
    document.body.setAttribute("data-refreshes", String(refreshes));
    sync();
    tick();
  }
  // From the origin, never from location.href: a page opened as https://user:pass@host/
  // has its credentials in the URL, and fetch() refuses URLs holding credentials.
  var here = location.origin + location.pathname;
  function get(url) {
    return fetch(url, {cache: "no-store", credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r;
    });
  }
  function typing() {
    var active = document.activeElement;
    return active !== null && main.contains(active) && (active.tagName === "INPUT" || active.tagName === "SELECT");
  }
  function poll() {
    // Not while the tab is hidden, nor while someone types in the search form (a swap would
    // replace the field under their fingers).
    if (busy || document.hidden || typing()) { return; }
    busy = true;
    get(here.replace(/[^/]*$/, "") + "status.json").then(function (r) { return r.json(); }).then(function (s) {
      if (s.generation !== main.getAttribute("data-generation") || Date.now() - loaded > 60000) {
        return get(here + location.search).then(function (r) { return r.text(); }).then(swap);
      }
      return undefined;
    }).then(function () {
      say("Updates itself every " + every / 1000 + " s; last checked " + new Date().toLocaleTimeString() + ".", false);
    }).catch(function (e) {
      say("Could not reach the exporter (" + e.message + ") at " + new Date().toLocaleTimeString() + "; retrying.", true);
    }).then(function () { busy = false; });
  }
  sync();
  tick();
  setInterval(tick, 1000);
  if (every > 0) { setInterval(poll, every); }
})();
"""
