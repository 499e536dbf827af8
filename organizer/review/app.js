// organize review: edits happen in the page; "Save plan" and "Apply plan" send them as numbers (which video goes
// to which cluster, which cluster has which name), never as paths. Every name is set as text, never as HTML.
"use strict";
const status = (text, error) => {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = error ? "error" : "";
};
const clusters = () => [...document.querySelectorAll("section.cluster")];
const region = (n) => document.querySelector(`section.cluster[data-cluster="${n}"]`);

function recount() {
  for (const c of clusters()) {
    const n = c.querySelectorAll("article.video").length;
    c.querySelector(".count").textContent = `${n} video${n === 1 ? "" : "s"}`;
  }
}

function renameOptions(n, name) {
  for (const o of document.querySelectorAll(`option[value="${n}"]`)) o.textContent = name;
}

function moveVideo(article, n) {
  region(n).querySelector(".videos").appendChild(article);
  article.querySelector("select.move-to").value = String(n);
  recount();
}

function merge(section) {
  const target = section.querySelector("select.merge-into").value;
  if (target === "" || !region(target)) { status("Choose the cluster to merge into first.", true); return; }
  for (const a of [...section.querySelectorAll("article.video")]) moveVideo(a, target);
  const n = section.dataset.cluster;
  for (const o of document.querySelectorAll(`option[value="${n}"]`)) o.remove();
  section.remove();
  status(`Merged into ${region(target).querySelector("h2").textContent}.`);
}

function edits() {
  const names = {}, targets = {};
  for (const c of clusters()) {
    const input = c.querySelector("input.cluster-name");
    if (input.value !== input.defaultValue) names[c.dataset.cluster] = input.value;
  }
  for (const a of document.querySelectorAll("article.video")) {
    const home = a.closest("section.cluster").dataset.cluster;
    if (a.querySelector("input.exclude").checked) targets[a.dataset.video] = null;
    else if (home !== a.dataset.home) targets[a.dataset.video] = Number(home);
  }
  return {plan: document.body.dataset.plan, names, targets};
}

async function send(what) {
  const buttons = document.querySelectorAll(".actions button");
  buttons.forEach((b) => (b.disabled = true));
  status(what === "apply" ? "Applying the plan..." : "Saving the plan...");
  let done = false;
  try {
    const r = await fetch(what, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(edits())});
    const body = await r.json();
    if (!r.ok) { status(body.error || `The server said ${r.status}.`, true); return; }
    status(body.message);
    done = what === "apply";
  } catch (e) {
    status(`The review server cannot be reached (${e}); it stops after a while without use. Run organize review again.`, true);
  } finally {
    if (!done) buttons.forEach((b) => (b.disabled = false));
  }
}

// Each "Move to" select is drawn with its own cluster only (a plan of 1,000 videos in 25 clusters would otherwise
// be 25,000 options to parse before the page shows); the full list comes from one template, for all selects in
// small steps once the page has loaded, and at once for a select about to be used.
function fill(article) {
  if (article.dataset.filled) return;
  const select = article.querySelector("select.move-to");
  const value = select.value;
  select.replaceChildren(document.getElementById("choices").content.cloneNode(true));
  for (const o of select.options) {
    const name = document.querySelector(`section.cluster[data-cluster="${o.value}"] h2`);
    if (name) o.textContent = name.textContent; else o.remove();    // renamed or merged meanwhile
  }
  select.value = value;
  article.dataset.filled = "1";
}

function fillSoon(articles, start) {
  const end = Math.min(start + 100, articles.length);
  for (let i = start; i < end; i++) fill(articles[i]);
  if (end < articles.length) setTimeout(() => fillSoon(articles, end), 0);
}

window.addEventListener("load", () => fillSoon([...document.querySelectorAll("article.video")], 0));
for (const kind of ["pointerdown", "focusin", "keydown"]) {
  document.addEventListener(kind, (ev) => {
    if (ev.target.matches && ev.target.matches("select.move-to")) fill(ev.target.closest("article"));
  }, true);
}

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("change", (ev) => {
    const t = ev.target;
    if (t.matches("select.move-to")) moveVideo(t.closest("article"), t.value);
    else if (t.matches("input.exclude")) t.closest("article").classList.toggle("excluded", t.checked);
  });
  document.addEventListener("input", (ev) => {
    const t = ev.target;
    if (!t.matches("input.cluster-name")) return;
    const c = t.closest("section.cluster");
    c.querySelector("h2").textContent = t.value;
    renameOptions(c.dataset.cluster, t.value);
  });
  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (t.matches("button.merge")) merge(t.closest("section.cluster"));
    else if (t.id === "save") send("save");
    else if (t.id === "apply") send("apply");
  });
});
