// Loaded first and synchronously: keeps the keys pressed before the page's script (grade.js, deferred) is ready,
// so that grade.js replays them in order instead of losing them.
"use strict";
window.lensdbEarlyKeys = [];
window.lensdbEarlyHandler = function (ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.key === "Tab" || /^F\d+$/.test(ev.key)) return;
  const t = ev.target && ev.target.tagName;
  if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT") return;
  window.lensdbEarlyKeys.push(ev.key);
  ev.preventDefault();
};
document.addEventListener("keydown", window.lensdbEarlyHandler, true);
