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
        window.location.assign(/^\/(?![\/\\])[^\\]*$/.test(next) ? next : "/");
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
      try { const out = await post("/api/queues", { kind: "similar", object_ids: similar.dataset.seed, label_set: similar.dataset.labelSet || "" }); window.location.assign(out.url); }
      catch (e) { status(e.message, true); }
    });
  }
  document.querySelectorAll("form.review-queue").forEach((f) => f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const out = await post("/api/queues", { kind: "review", review: f.dataset.review, label_set: f.dataset.labelSet, calibration_share: 0 });
      window.location.assign(out.url);
    } catch (e) { status(e.message, true); }
  }));
  const trainingForm = document.getElementById("training-form");
  if (trainingForm) {
    trainingForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try { const out = await post("/api/queues", { kind: "training", size: 40 }); window.location.assign(out.url); }
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

  // ---------------------------------------------------------------- undo history, shared by the grid and the
  // object view and by every tab of this browser (localStorage), per queue
  const undoKey = (q) => "lensdb-undo-" + q;
  const undoStack = (q) => { try { return JSON.parse(localStorage.getItem(undoKey(q)) || "[]"); } catch (e) { return []; } };
  const saveUndo = (q, s) => localStorage.setItem(undoKey(q), JSON.stringify(s.slice(-500)));
  const pushUndo = (q, entry) => { const s = undoStack(q); s.push(entry); saveUndo(q, s); };
  const helpPanel = document.getElementById("help");
  const toggleHelp = () => {
    if (!helpPanel) return;
    helpPanel.hidden = !helpPanel.hidden;
    const b = document.getElementById("help-button");
    if (b) b.setAttribute("aria-expanded", String(!helpPanel.hidden));
  };
  const helpButton = document.getElementById("help-button");
  if (helpButton) helpButton.addEventListener("click", toggleHelp);
  const typing = (ev) => { const t = ev.target && ev.target.tagName; return t === "INPUT" || t === "TEXTAREA" || t === "SELECT"; };
  // Keys pressed before this script ran (early.js kept them), replayed once the page is ready.
  const earlyKeys = () => {
    const keys = window.lensdbEarlyKeys || [];
    if (window.lensdbEarlyHandler) document.removeEventListener("keydown", window.lensdbEarlyHandler, true);
    window.lensdbEarlyKeys = [];
    return keys;
  };

  // ---------------------------------------------------------------- one object
  const one = document.getElementById("grade-one");
  if (one) {
    const q = one.dataset.queue, oid = one.dataset.objectId, back = one.dataset.back || ("/queue/" + q);
    let busyOne = Promise.resolve();
    const give = (grade) => {
      busyOne = busyOne.then(async () => {
        const previous = one.dataset.grade || null;
        try {
          const note = document.getElementById("note").value;
          const flag = document.getElementById("flag").value;
          const out = await post("/api/grade", { queue: q, object_id: oid, grade: grade, note: note, flag: flag, arc: arc });
          pushUndo(q, { object_id: oid, previous: previous, page: Number(one.dataset.page || 0) });
          one.dataset.grade = out.grade || previous || "";
          document.getElementById("my-grade").textContent = out.grade || (previous ? previous : "skipped");
          status("saved: " + (out.grade || "skipped") + (out.stale ? " (this queue was replaced by #" + out.next_queue + ")" : ""));
          document.body.dataset.saved = String(Number(document.body.dataset.saved || 0) + 1);
        } catch (e) { status(e.message, true); }
      });
    };
    const undoOne = () => {
      busyOne = busyOne.then(async () => {
        const s = undoStack(q);
        const last = s.pop();
        if (!last) { status("nothing to undo"); return; }
        try {
          await post("/api/undo", { queue: q, object_id: last.object_id, previous: last.previous });
          saveUndo(q, s);
          if (last.object_id === oid) {
            one.dataset.grade = last.previous || "";
            document.getElementById("my-grade").textContent = last.previous || "none yet";
          }
          status("undone · object " + last.object_id);
        } catch (e) { status(e.message, true); }
      });
    };
    // Where the arc is: a click on the stamp, in cutout pixels of the north-up stamp; saved with the next grade.
    const box = document.getElementById("stamp-box"), stampImg = document.getElementById("stamp");
    const markEl = document.getElementById("arc-mark");
    const zoomOf = () => Number(box.dataset.zoom || 1) * (stampImg.clientWidth / (stampImg.naturalWidth || stampImg.clientWidth));
    const place = (x, y) => {
      const z = zoomOf();
      markEl.style.left = (x * z) + "px"; markEl.style.top = (y * z) + "px"; markEl.hidden = false;
    };
    let arc = null;
    if (markEl && markEl.dataset.x) {
      const show = () => place(Number(markEl.dataset.x), Number(markEl.dataset.y));
      if (stampImg.complete) show(); else stampImg.addEventListener("load", show);
    }
    if (stampImg) stampImg.addEventListener("click", (ev) => {
      const z = zoomOf();
      arc = [Math.round(ev.offsetX / z * 10) / 10, Math.round(ev.offsetY / z * 10) / 10];
      place(arc[0], arc[1]);
      document.getElementById("arc-text").textContent = "arc marked at " + arc[0] + ", " + arc[1] + ": saved with your grade";
    });
    one.querySelectorAll("[data-grade-button]").forEach((b) => b.addEventListener("click", () => give(b.dataset.gradeButton)));
    const onKey = (key) => {
      const g = KEYS[key.toLowerCase()];
      if (g === "skip") { give("skip"); busyOne.then(() => window.location.assign(back)); return true; }
      if (g) { give(g); return true; }
      if (key === "u" || key === "U" || key === "Backspace") { undoOne(); return true; }
      if (key === "Escape" || key === "g" || key === "G") { busyOne.then(() => window.location.assign(back)); return true; }
      if (key === "?") { toggleHelp(); return true; }
      return false;
    };
    document.addEventListener("keydown", (ev) => {
      if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (onKey(ev.key)) ev.preventDefault();
    });
    earlyKeys().forEach(onKey);
  }

  // ---------------------------------------------------------------- the grid
  const grid = document.getElementById("grid");
  if (!grid) {
    if (!one) {
      document.addEventListener("keydown", (ev) => { if (!typing(ev) && ev.key === "?") toggleHelp(); });
      earlyKeys();
    }
    return;
  }
  const queue = grid.dataset.queue, page = Number(grid.dataset.page), nPages = Number(grid.dataset.nPages);
  const cells = Array.from(grid.querySelectorAll(".cell"));
  // Stamps per row as laid out (the grid wraps on narrow screens): up and down move by one row.
  const cols = () => Math.max(1, cells.filter((c) => c.offsetTop === cells[0].offsetTop).length);
  // Grades typed while the next page loads are kept here and given to that page's first stamps, in order.
  const carryKey = "lensdb-carry-" + queue;
  let current = 0;
  let busy = Promise.resolve();
  let leaving = false;
  let carry = [];
  const cursor = Number(grid.dataset.cursor);
  const open = (c) => !c.dataset.retired;  // retired stamps (settled by the skill model) are passed over
  const nextOpen = (i) => { for (let k = i + 1; k < cells.length; k++) if (open(cells[k])) return k; return -1; };
  const start = cells.findIndex((c) => Number(c.dataset.position) >= cursor && !c.dataset.grade && open(c));
  const select = (i) => {
    if (!cells.length) return;
    current = Math.max(0, Math.min(cells.length - 1, i));
    cells.forEach((c, k) => c.classList.toggle("current", k === current));
    cells[current].scrollIntoView({ block: "nearest" });
  };
  select(start >= 0 ? start : 0);
  const mark = (cell, grade) => {
    cell.dataset.grade = grade || "";
    cell.classList.remove("grade-A", "grade-B", "grade-N", "graded", "skipped", "failed");
    if (grade) cell.classList.add("graded", "grade-" + grade);
    cell.querySelector(".mark").textContent = grade || "";
  };
  const progress = document.getElementById("progress");
  // Arc marks by keyboard: M on a stamp shows a cross at its centre, arrows move it (Shift: 5 steps), M or Enter
  // keeps it, Esc drops it; the mark goes with the stamp's next grade (as a fraction of the stamp; the server
  // turns it into cutout pixels).
  const STEP = 1 / 40;
  let marking = null;
  const cross = (cell) => {
    let el = cell.querySelector(".arc-mark");
    if (!el) { el = document.createElement("div"); el.className = "arc-mark"; cell.appendChild(el); }
    return el;
  };
  const showMark = (cell, fx, fy) => {
    const img = cell.querySelector("img"), el = cross(cell);
    el.style.left = (img.offsetLeft + fx * img.clientWidth) + "px";
    el.style.top = (img.offsetTop + fy * img.clientHeight) + "px";
    el.hidden = false;
  };
  const markKey = (key, shift) => {  // true when the key was used by the marking
    if (!marking) {
      if (key !== "m" && key !== "M") return false;
      marking = { cell: cells[current], fx: 0.5, fy: 0.5 };
      showMark(marking.cell, 0.5, 0.5);
      status("marking the arc: arrows move the cross, M or Enter keeps it, Esc drops it");
      return true;
    }
    const d = (shift ? 5 : 1) * STEP;
    const moves = { ArrowRight: [d, 0], ArrowLeft: [-d, 0], ArrowDown: [0, d], ArrowUp: [0, -d] };
    if (key in moves) {
      marking.fx = Math.min(1, Math.max(0, marking.fx + moves[key][0]));
      marking.fy = Math.min(1, Math.max(0, marking.fy + moves[key][1]));
      showMark(marking.cell, marking.fx, marking.fy);
      return true;
    }
    if (key === "m" || key === "M" || key === "Enter") {
      marking.cell.dataset.arcFx = marking.fx.toFixed(4);
      marking.cell.dataset.arcFy = marking.fy.toFixed(4);
      marking = null;
      status("arc marked: it is saved with this stamp's grade");
      return true;
    }
    if (key === "Escape") {
      cross(marking.cell).hidden = true;
      marking = null;
      status("mark dropped");
      return true;
    }
    const g = KEYS[key.toLowerCase()];
    if (g) {  // a grade while marking keeps the mark and grades
      marking.cell.dataset.arcFx = marking.fx.toFixed(4);
      marking.cell.dataset.arcFy = marking.fy.toFixed(4);
      marking = null;
      return false;
    }
    return true;  // other keys do nothing while marking
  };
  // Stamp size: whole-pixel magnifications only (the server picks the whole zoom nearest to the size asked).
  const sizeSelect = document.getElementById("stamp-size");
  const applySize = (px) => {
    cells.forEach((c) => { const img = c.querySelector("img"); img.src = img.src.replace(/px=\d+/, "px=" + px); });
  };
  if (sizeSelect) {
    const saved = localStorage.getItem("lensdb-stamp-px");
    if (saved && saved !== sizeSelect.value && Array.from(sizeSelect.options).some((o) => o.value === saved)) {
      sizeSelect.value = saved; applySize(saved);
    }
    sizeSelect.addEventListener("change", () => {
      localStorage.setItem("lensdb-stamp-px", sizeSelect.value); applySize(sizeSelect.value); sizeSelect.blur();
    });
  }
  const goto = (p) => { window.location.assign("/queue/" + queue + "/page/" + (p + 1)); };  // pages are 1-based in URLs
  const grade = (g) => {
    if (leaving) {  // the last stamp was graded: these keys are meant for the next page's first stamps
      carry.push(g);
      sessionStorage.setItem(carryKey, JSON.stringify(carry));
      status("opening the next page · " + carry.length + " key(s) kept for its first stamps");
      return;
    }
    const i = current;
    const cell = cells[i];
    const previous = cell.dataset.grade || null;
    const nxt = nextOpen(i);
    const last = nxt < 0;
    if (last && page + 1 < nPages) leaving = true;
    else if (!last) select(nxt);  // move on at once; the save follows in order
    cell.classList.add("saving");
    busy = busy.then(async () => {
      try {
        const body = { queue: queue, object_id: cell.dataset.objectId, grade: g };
        if (cell.dataset.arcFx) body.arc_frac = [Number(cell.dataset.arcFx), Number(cell.dataset.arcFy)];
        const out = await post("/api/grade", body);
        cell.classList.remove("saving");
        if (out.grade) mark(cell, out.grade);
        else if (!cell.dataset.grade) { cell.classList.remove("failed"); cell.classList.add("skipped"); cell.querySelector(".mark").textContent = "–"; }
        pushUndo(queue, { object_id: cell.dataset.objectId, previous: previous, page: page });
        if (progress) progress.textContent = String(out.cursor);
        if (out.feedback) {  // training queues: what the object was, at once
          cell.classList.add(out.feedback.startsWith("right") ? "feedback-right" : "feedback-wrong");
          cell.title = out.feedback;
        }
        status((out.feedback ? out.feedback + " · " : "") + (out.grade ? "saved " + out.grade : "skipped") + " · object " + cell.dataset.objectId +
               (out.stale ? " · this queue was replaced by #" + out.next_queue + ": your grade is kept" : ""));
        if (last) {
          if (leaving) goto(page + 1);
          else status("end of the queue: every object has been shown");
        }
      } catch (e) {
        cell.classList.remove("saving");
        cell.classList.add("failed");
        cell.querySelector(".mark").textContent = "!";
        let msg = e.message + " (object " + cell.dataset.objectId + " not saved: select it and grade it again)";
        if (leaving) {
          msg += carry.length ? "; the " + carry.length + " key(s) typed meanwhile were not applied" : "";
          leaving = false; carry = []; sessionStorage.removeItem(carryKey);
        }
        status(msg, true);
      }
    });
  };
  const undo = () => {
    if (leaving) return;
    busy = busy.then(async () => {
      const s = undoStack(queue);
      const last = s.pop();
      if (!last) { status("nothing to undo"); return; }
      try {
        await post("/api/undo", { queue: queue, object_id: last.object_id, previous: last.previous });
        saveUndo(queue, s);
        const i = cells.findIndex((c) => c.dataset.objectId === last.object_id);
        if (i < 0) { goto(last.page); return; }
        mark(cells[i], last.previous);
        select(i);
        status("undone · object " + last.object_id);
      } catch (e) { status(e.message, true); }
    });
  };
  cells.forEach((c, i) => c.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") select(i); }));
  const onKey = (key) => {
    const g = KEYS[key.toLowerCase()];
    if (g) { grade(g); return true; }
    if (leaving) return true;  // the page is being left: no move may land on a stamp the grader did not aim at
    const row = cols();
    const moves = { ArrowRight: 1, l: 1, ArrowLeft: -1, h: -1, ArrowDown: row, j: row, ArrowUp: -row, k: -row };
    if (key in moves) { select(current + moves[key]); return true; }
    if (key === "u" || key === "U" || key === "Backspace" || key === "z") { undo(); return true; }
    if (key === "Enter" || key === "o" || key === "O") {
      window.location.assign("/object/" + cells[current].dataset.objectId + "?queue=" + queue + "&page=" + page);
      return true;
    }
    if ((key === "]" || key === "PageDown") && page + 1 < nPages) { goto(page + 1); return true; }
    if ((key === "[" || key === "PageUp") && page > 0) { goto(page - 1); return true; }
    if (key === "?") { toggleHelp(); return true; }
    return false;
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev)) return;
    if (!leaving && markKey(ev.key, ev.shiftKey)) { ev.preventDefault(); return; }
    if (onKey(ev.key)) ev.preventDefault();
  });
  let carried = [];
  try { carried = JSON.parse(sessionStorage.getItem(carryKey) || "[]"); } catch (e) { carried = []; }
  sessionStorage.removeItem(carryKey);
  carried.forEach(grade);
  earlyKeys().forEach(onKey);
  window.lensdbGrid = { ready: true };
})();
