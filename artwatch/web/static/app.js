// ArtWatch web app: progressive enhancement only; every action also works as a plain form.
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select.autosubmit")) {
    select.addEventListener("change", () => select.form.submit());
  }
  reviewQueue();
  hitPage();
  portfolio();
});

function reviewQueue() {
  const cards = [...document.querySelectorAll(".grid .card[data-id]")];
  const bulk = document.getElementById("bulk");
  if (!bulk) return;
  let current = -1;
  const boxes = () => cards.map((card) => card.querySelector("input[type=checkbox]"));
  const count = bulk.querySelector(".selected-count");
  const update = () => {
    const n = boxes().filter((box) => box.checked).length;
    count.textContent = n ? `${n} ✓` : "";
  };
  for (const box of boxes()) box.addEventListener("change", update);
  bulk.querySelector(".select-all").addEventListener("click", () => {
    const all = boxes().every((box) => box.checked);
    for (const box of boxes()) box.checked = !all;
    update();
  });
  bulk.querySelector(".evidence-selected").addEventListener("click", () => {
    const ids = boxes().filter((box) => box.checked).map((box) => box.value);
    if (ids.length) window.location = "/evidence.zip?" + ids.map((id) => "ids=" + id).join("&");
  });
  const focus = (index) => {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach((card, i) => card.classList.toggle("current", i === current));
    cards[current].querySelector("a.pair").focus();
  };
  const act = (status) => {
    if (!boxes().some((box) => box.checked) && current >= 0) boxes()[current].checked = true;
    if (!boxes().some((box) => box.checked)) return;
    bulk.querySelector(`button[value=${status}]`).click();
  };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea")) return;
    const keys = {
      j: () => focus(current + 1),
      k: () => focus(current - 1),
      x: () => { if (current >= 0) { const box = boxes()[current]; box.checked = !box.checked; update(); } },
      c: () => act("confirmed"),
      d: () => act("dismissed"),
      o: () => { if (current >= 0) cards[current].querySelector("a.pair").click(); },
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
}

function hitPage() {
  const review = document.querySelector("form.review");
  if (!review) return;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea")) return;
    const button = review.querySelector(`button[data-key="${event.key}"]`);
    if (button) { event.preventDefault(); button.click(); }
  });
}

function portfolio() {
  const zone = document.querySelector(".dropzone");
  if (zone) {
    const input = zone.querySelector("input[type=file]");
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      input.files = event.dataTransfer.files;
      if (input.files.length) input.form.requestSubmit();
    });
  }
  const section = document.querySelector(".backscan[data-running=yes]");
  if (!section) return;
  const bar = section.querySelector("progress");
  const text = section.querySelector(".backscan-text");
  const poll = async () => {
    const response = await fetch("/api/backscan", { credentials: "same-origin" });
    if (!response.ok) return;
    const progress = await response.json();
    bar.max = progress.total || 1;
    bar.value = progress.done;
    text.textContent = `${progress.done} / ${progress.total}`;
    if (progress.running) setTimeout(poll, 1000);
    else window.location = "/portfolio";
  };
  setTimeout(poll, 500);
}
