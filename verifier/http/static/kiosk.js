// A hall screen: only the reads of the devices assigned to it ([[screens.kiosk]]), masked,
// back to the idle screen after [screens] kiosk_reset_s so the next patient never sees the
// previous one's result.
"use strict";
const params = new URLSearchParams(location.search);
const screenName = params.get("screen") || "kiosk";
const kioskToken = params.get("token");
const IDLE = { status: "Поднесите полис к сканеру", reason: "или вставьте карту полиса в считыватель" };
let resetAfterS = 20;
let resetTimer = null;

function idle() {
  const box = el("verdict");
  box.className = "verdict";
  box.dataset.outcome = "";
  el("status").textContent = IDLE.status;
  el("reason").textContent = IDLE.reason;
  for (const id of ["enp", "who", "insurer", "fresh"]) text(id, "");
  document.body.dataset.state = "idle";
}

function show(verdict) {
  showVerdictBox(verdict);
  const c = verdict.credential || {};
  text("enp", enpOf(verdict));
  text("who", whoText(c));
  text("insurer", insurerText(verdict));
  text("fresh", freshText(verdict));
  document.body.dataset.state = "verdict";
  clearTimeout(resetTimer);
  resetTimer = setTimeout(idle, resetAfterS * 1000);
}

window.addEventListener("DOMContentLoaded", () => {
  const query = { screen: screenName };
  if (kioskToken) query.access_token = kioskToken;
  connectFeed(query, (e) => {
    // Timestamps for the scan-to-screen bench (no personal data): when the event arrived on
    // the page's clock, and when the service checked it (its verdict's checked_at).
    const box = el("verdict");
    box.dataset.arrived = String(performance.timeOrigin + performance.now());
    box.dataset.checkedAt = (e.verdict && e.verdict.checked_at) || "";
    show(e.verdict);
  }, (hello) => {
    if (typeof hello.kiosk_reset_s === "number" && hello.kiosk_reset_s > 0) resetAfterS = hello.kiosk_reset_s;
  });
});
