// Live verdict screens: Server-Sent Events from /v1/events, no build step, works offline.
"use strict";
const OUTCOME_RU = {
  valid: "Полис действителен", invalid: "Полис недействителен", not_insured: "Не застрахован",
  suspended: "Действие полиса приостановлено", annulled: "Полис аннулирован",
  expired: "Срок действия полиса истёк", unknown: "Не удалось подтвердить полис",
};
const FRESH_RU = { fresh: "актуальна", stale: "устарела, но действует", expired: "просрочена", absent: "нет" };
const SOURCE_RU = { snapshot: "локальная копия реестра", registry: "онлайн-реестр", none: "—" };
const params = new URLSearchParams(location.search);
const token = params.get("token");
const authHeaders = token ? { Authorization: "Bearer " + token } : {};

function el(id) { return document.getElementById(id); }
function text(id, value) { const e = el(id); if (e) e.textContent = value == null || value === "" ? "—" : value; }

function ageText(seconds) {
  if (seconds == null) return "";
  if (seconds < 120) return Math.round(seconds) + " с назад";
  if (seconds < 7200) return Math.round(seconds / 60) + " мин назад";
  return Math.round(seconds / 3600) + " ч назад";
}

function show(verdict, source) {
  const box = el("verdict");
  box.className = "verdict " + verdict.outcome;
  box.dataset.outcome = verdict.outcome;
  const msg = verdict.message || OUTCOME_RU[verdict.outcome] || verdict.outcome;
  const [title, ...rest] = msg.split(": ");
  text("status", title);
  text("reason", rest.join(": "));
  const c = verdict.credential || {};
  const who = [c.surname, c.given_name, c.patronymic].filter(Boolean).join(" ");
  text("who", who);
  text("enp", c.enp);
  text("kind", c.kind);
  const reg = verdict.register || {};
  text("insurer", reg.smo_ogrn || c.smo_ogrn ? "ОГРН " + (reg.smo_ogrn || c.smo_ogrn) : "");
  text("clinic", reg.clinic ? "МО " + reg.clinic : "");
  let fresh = SOURCE_RU[verdict.source] || verdict.source;
  if (verdict.snapshot && verdict.source === "snapshot") {
    fresh += ", копия " + (FRESH_RU[verdict.snapshot.state] || verdict.snapshot.state) + " (" + ageText(verdict.snapshot.age_s) + ")";
  } else if (verdict.answered_at) {
    fresh += ", ответ " + new Date(verdict.answered_at).toLocaleTimeString("ru-RU");
  }
  text("fresh", fresh);
  text("device", source);
  text("time", new Date(verdict.checked_at).toLocaleTimeString("ru-RU"));
  const list = el("history");
  if (list) {
    const row = document.createElement("tr");
    for (const v of [new Date(verdict.checked_at).toLocaleTimeString("ru-RU"), OUTCOME_RU[verdict.outcome], c.enp || "—", source]) {
      const td = document.createElement("td"); td.textContent = v; row.appendChild(td);
    }
    list.prepend(row);
    while (list.children.length > 15) list.removeChild(list.lastChild);
  }
}

function connect() {
  const url = "/v1/events" + (token ? "?access_token=" + encodeURIComponent(token) : "");
  const es = new EventSource(url);
  es.onopen = () => { el("conn").textContent = "на связи"; el("conn").className = "on"; };
  es.onerror = () => { el("conn").textContent = "нет связи с сервисом — переподключение…"; el("conn").className = ""; };
  es.addEventListener("scan", (ev) => {
    const e = JSON.parse(ev.data);
    show(e.verdict, e.source);
  });
}

async function typed(evt) {
  evt.preventDefault();
  const value = el("enp-input").value.trim();
  text("error", "");
  if (!value) return;
  const r = await fetch("/v1/verify?publish=true", {
    method: "POST", headers: { "Content-Type": "application/json", ...authHeaders },
    body: JSON.stringify({ text: value, typed: true }),
  });
  if (!r.ok) {
    let detail = r.status;
    try { detail = (await r.json()).detail; } catch (_) { /* keep the status */ }
    text("error", "Не принято: " + detail);
    return;
  }
  el("enp-input").value = "";
}

window.addEventListener("DOMContentLoaded", () => {
  const form = el("typed");
  if (form) form.addEventListener("submit", typed);
  connect();
});
