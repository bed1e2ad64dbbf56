// Keyboard shortcuts and small enhancements for the review queue. Everything works without it.
(function () {
  "use strict";
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const rows = () => Array.from(document.querySelectorAll("tr.task-row"));
  let selected = -1;
  let armed = null; // the decision button chosen with l / d / m

  function select(i) {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((r, n) => r.classList.toggle("selected", n === selected));
    all[selected].querySelector("a").focus({ preventScroll: true });
    all[selected].scrollIntoView({ block: "nearest" });
  }

  function arm(key) {
    const form = document.getElementById("decide-form");
    if (!form) return;
    const button = form.querySelector(`button[data-key="${key}"]`);
    form.querySelectorAll("button").forEach((b) => b.classList.toggle("armed", b === button));
    armed = button;
    const reason = document.getElementById("reason");
    const hint = document.getElementById("decide-hint");
    if (reason.value.trim()) {
      hint.textContent = `Press Ctrl+Enter to confirm “${button.textContent.trim().slice(1).trim()}”.`;
    } else {
      hint.textContent = "Type a reason, then press Ctrl+Enter to confirm.";
    }
    reason.focus();
  }

  document.addEventListener("click", (e) => {
    const row = e.target.closest("tr.task-row");
    if (row && !e.target.closest("a")) window.location = row.dataset.href;
  });

  document.addEventListener("keydown", (e) => {
    const help = document.getElementById("help");
    if (e.key === "Escape") {
      if (typing(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && armed) {
      e.preventDefault();
      armed.form.requestSubmit(armed);
      return;
    }
    if (typing(e.target) || e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key;
    if (k === "?") { e.preventDefault(); if (help && !help.open) help.showModal(); return; }
    if (k === "/") { e.preventDefault(); document.getElementById("site-search")?.focus(); return; }
    if (k === "q") { window.location = "/review"; return; }
    if (document.body.classList.contains("queue-page")) {
      if (k === "j" || k === "ArrowDown") { e.preventDefault(); select(selected + 1); }
      else if (k === "k" || k === "ArrowUp") { e.preventDefault(); select(selected - 1); }
      else if ((k === "Enter" || k === "o") && selected >= 0) { window.location = rows()[selected].dataset.href; }
      return;
    }
    if (document.body.classList.contains("task-page")) {
      if (k === "l" || k === "d" || k === "m") { e.preventDefault(); arm(k); }
      else if (k === "n") { const next = document.getElementById("next-task"); if (next) window.location = next.href; }
      else if (/^[1-9]$/.test(k)) {
        const radio = document.querySelector(`input[name=person_id][data-n="${k}"]`);
        if (radio) { radio.checked = true; document.getElementById("candidate-" + k)?.scrollIntoView({ block: "start" }); }
      }
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (document.body.classList.contains("queue-page") && rows().length) {
      selected = 0;
      rows()[0].classList.add("selected");
    }
  });
})();
