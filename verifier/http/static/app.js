// Live verdict screens: Server-Sent Events from /v1/events, no build step, works offline.
"use strict";
const OUTCOME_RU = {
  valid: "Полис действителен", invalid: "Полис недействителен", not_insured: "Не застрахован",
  suspended: "Действие полиса приостановлено", annulled: "Полис аннулирован",
  expired: "Срок действия полиса истёк", unknown: "Не удалось подтвердить полис",
};
const KIND_RU = {
  paper_policy: "бумажный полис (штрихкод)", digital_policy: "цифровой полис",
  manual: "номер введён вручную", temporary_certificate: "временное свидетельство",
  old_policy: "полис старого образца", card: "электронный полис (карта)",
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
  if (seconds < 120) return Math.round(seconds) + "\u00a0с назад";
  if (seconds < 7200) return Math.round(seconds / 60) + "\u00a0мин назад";
  return Math.round(seconds / 3600) + "\u00a0ч назад";
}

function show(verdict, source) {
  const box = el("verdict");
  box.className = "verdict " + verdict.outcome;
  box.dataset.outcome = verdict.outcome;
  const msg = verdict.message || OUTCOME_RU[verdict.outcome] || verdict.outcome;
  const [title, ...rest] = msg.split(": ");
  text("status", title);
  el("reason").textContent = rest.join(": ");
  const c = verdict.credential || {};
  const who = [c.surname, c.given_name, c.patronymic].filter(Boolean).join(" ");
  text("who", who);
  text("enp", c.enp);
  text("kind", KIND_RU[c.kind] || c.kind);
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
  es.onopen = () => {
    el("conn").textContent = "на связи"; el("conn").className = "on";
    document.body.classList.remove("offline");
  };
  es.onerror = () => {
    el("conn").textContent = "нет связи с сервисом — переподключение…"; el("conn").className = "off";
    document.body.classList.add("offline");  // an old verdict must not look current
    if (es.readyState === EventSource.CLOSED) {  // the browser gave up: try again ourselves
      setTimeout(connect, 3000);
    }
  };
  es.addEventListener("scan", (ev) => {
    const e = JSON.parse(ev.data);
    show(e.verdict, e.source);
  });
}

const ERROR_RU = {
  too_large: "слишком длинный ввод", forbidden: "нет прав на проверку с этого экрана",
  unauthorized: "нужен токен доступа", bad_text: "недопустимые символы",
};

async function typed(evt) {
  evt.preventDefault();
  const value = el("enp-input").value.trim();
  el("error").textContent = "";
  if (!value) return;
  let r;
  try {
    r = await fetch("/v1/verify?publish=true", {
      method: "POST", headers: { "Content-Type": "application/json", ...authHeaders },
      body: JSON.stringify({ text: value, typed: true }),
    });
  } catch (_) {
    el("error").textContent = "Не принято: нет связи с сервисом";
    return;
  }
  if (!r.ok) {
    let detail = String(r.status);
    try {
      const p = await r.json();
      detail = ERROR_RU[p.code] || p.detail || detail;
    } catch (_) { /* keep the status */ }
    el("error").textContent = "Не принято: " + detail;
    return;
  }
  el("enp-input").value = "";
}

window.addEventListener("DOMContentLoaded", () => {
  const form = el("typed");
  if (form) form.addEventListener("submit", typed);
  connect();
});
