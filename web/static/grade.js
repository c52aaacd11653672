// LensDB inspection page: keyboard grading, undo, queues, login. Every grade is saved at once (POST /api/grade).
"use strict";
(function () {
  const KEYS = { a: "A", 1: "A", b: "B", 2: "B", n: "N", x: "N", 0: "N", s: "skip", " ": "skip" };
  const status = (text, isError) => {
    const el = document.getElementById("status");
    if (!el) return;
    el.textContent = text;
    el.className = isError ? "error" : "";
  };
  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-LensDB": "1" }, body: JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { data = { error: "the server answered " + res.status }; }
    if (!res.ok) throw new Error(data.error || ("the server answered " + res.status));
    return data;
  }

  // ---------------------------------------------------------------- login, logout, forms
  const login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const token = document.getElementById("token");
      try {
        await post("/api/login", { grader: document.getElementById("grader").value, token: token ? token.value : "" });
        const next = login.dataset.next || "/";
        window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
      } catch (e) { status(e.message, true); }
    });
  }
  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", async () => { await post("/api/logout", {}); window.location.assign("/login"); });
  const queueForm = document.getElementById("queue-form");
  if (queueForm) {
    queueForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = Object.fromEntries(new FormData(queueForm).entries());
      status("making the queue ...");
      try { const out = await post("/api/queues", body); window.location.assign(out.url); } catch (e) { status(e.message, true); }
    });
  }
  const similar = document.getElementById("similar-queue");
  if (similar) {
    similar.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try { const out = await post("/api/queues", { kind: "similar", object_ids: similar.dataset.seed }); window.location.assign(out.url); }
      catch (e) { status(e.message, true); }
    });
  }
  const roundForm = document.getElementById("round-form");
  if (roundForm) {
    roundForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      status("starting the round ...");
      // The round runs in the background: follow its progress (the page stays usable meanwhile).
      const follow = async (url) => {
        const res = await fetch(url, { credentials: "same-origin" });
        const p = await res.json();
        if (!res.ok) { status(p.error || ("the server answered " + res.status), true); return; }
        if (p.status === "done") { status("round " + p.round + " done: opening queue #" + p.queue); window.location.assign("/queue/" + p.queue); return; }
        if (p.status === "failed") { status("the round failed: " + p.error, true); return; }
        status("round (job " + p.job + "): step " + p.step + " of " + p.steps + ": " + p.stage + " ...");
        setTimeout(() => follow(url), 1000);
      };
      try { const out = await post("/api/rounds", { label_set: roundForm.dataset.labelSet }); follow(out.progress_url); }
      catch (e) { status(e.message, true); }
    });
  }

  // ---------------------------------------------------------------- one object
  const one = document.getElementById("grade-one");
  if (one) {
    const give = async (grade) => {
      try {
        const note = document.getElementById("note").value;
        const out = await post("/api/grade", { queue: one.dataset.queue, object_id: one.dataset.objectId, grade: grade, note: note });
        document.getElementById("my-grade").textContent = out.grade || "none yet";
        status("saved: " + (out.grade || "skipped") + (out.stale ? " (this queue was replaced by #" + out.next_queue + ")" : ""));
      } catch (e) { status(e.message, true); }
    };
    one.querySelectorAll("[data-grade-button]").forEach((b) => b.addEventListener("click", () => give(b.dataset.gradeButton)));
    document.addEventListener("keydown", (ev) => {
      if (ev.target.tagName === "INPUT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const g = KEYS[ev.key.toLowerCase()];
      if (g && g !== "skip") { ev.preventDefault(); give(g); }
    });
  }

  // ---------------------------------------------------------------- the grid
  const grid = document.getElementById("grid");
  if (!grid) return;
  const queue = grid.dataset.queue, page = Number(grid.dataset.page), nPages = Number(grid.dataset.nPages);
  const cells = Array.from(grid.querySelectorAll(".cell"));
  // Stamps per row as laid out (the grid wraps on narrow screens): up and down move by one row.
  const cols = () => Math.max(1, cells.filter((c) => c.offsetTop === cells[0].offsetTop).length);
  const undoKey = "lensdb-undo-" + queue;
  const undoStack = () => JSON.parse(sessionStorage.getItem(undoKey) || "[]");
  const saveUndo = (s) => sessionStorage.setItem(undoKey, JSON.stringify(s.slice(-200)));
  let current = 0;
  let busy = Promise.resolve();
  const cursor = Number(grid.dataset.cursor);
  const start = cells.findIndex((c) => Number(c.dataset.position) >= cursor && !c.dataset.grade);
  const select = (i) => {
    if (!cells.length) return;
    current = Math.max(0, Math.min(cells.length - 1, i));
    cells.forEach((c, k) => c.classList.toggle("current", k === current));
    cells[current].scrollIntoView({ block: "nearest" });
  };
  select(start >= 0 ? start : 0);
  const mark = (cell, grade) => {
    cell.dataset.grade = grade || "";
    cell.classList.remove("grade-A", "grade-B", "grade-N", "graded");
    if (grade) cell.classList.add("graded", "grade-" + grade);
    cell.querySelector(".mark").textContent = grade || "";
  };
  const goto = (p) => { window.location.assign("/queue/" + queue + "/page/" + p); };
  const grade = (g) => {
    const i = current;
    const cell = cells[i];
    const previous = cell.dataset.grade || null;
    const last = i + 1 >= cells.length;
    if (!last) select(i + 1);  // move on at once; the save follows in order
    busy = busy.then(async () => {
      try {
        const out = await post("/api/grade", { queue: queue, object_id: cell.dataset.objectId, grade: g });
        if (out.grade) mark(cell, out.grade);
        const s = undoStack(); s.push({ object_id: cell.dataset.objectId, previous: previous, page: page }); saveUndo(s);
        status((out.grade ? "saved " + out.grade : "skipped") + " · object " + cell.dataset.objectId +
               (out.stale ? " · this queue was replaced by #" + out.next_queue + ": your grade is kept" : ""));
        if (last) {
          if (page + 1 < nPages) goto(page + 1);
          else status("end of the queue: every object has been shown");
        }
      } catch (e) { select(i); status(e.message + " (object " + cell.dataset.objectId + " not saved)", true); }
    });
  };
  const undo = () => {
    busy = busy.then(async () => {
      const s = undoStack();
      const last = s.pop();
      if (!last) { status("nothing to undo"); return; }
      try {
        await post("/api/undo", { queue: queue, object_id: last.object_id, previous: last.previous });
        saveUndo(s);
        const i = cells.findIndex((c) => c.dataset.objectId === last.object_id);
        if (i < 0) { goto(last.page); return; }
        mark(cells[i], last.previous);
        select(i);
        status("undone · object " + last.object_id);
      } catch (e) { status(e.message, true); }
    });
  };
  cells.forEach((c, i) => c.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") select(i); }));
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.tagName === "INPUT") return;
    const key = ev.key;
    const g = KEYS[key.toLowerCase()];
    if (g) { ev.preventDefault(); grade(g); return; }
    const row = cols();
    const moves = { ArrowRight: 1, l: 1, ArrowLeft: -1, h: -1, ArrowDown: row, j: row, ArrowUp: -row, k: -row };
    if (key in moves) { ev.preventDefault(); select(current + moves[key]); return; }
    if (key === "u" || key === "U" || key === "Backspace" || key === "z") { ev.preventDefault(); undo(); return; }
    if (key === "Enter" || key === "o") { ev.preventDefault(); window.location.assign("/object/" + cells[current].dataset.objectId + "?queue=" + queue); return; }
    if (key === "]" && page + 1 < nPages) goto(page + 1);
    if (key === "[" && page > 0) goto(page - 1);
  });
  window.lensdbGrid = { ready: true };
})();
