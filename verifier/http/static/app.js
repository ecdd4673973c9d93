// Shared by the desk and kiosk screens: Russian labels, the live feed (Server-Sent Events from
// /v1/events), the verdict box. No build step, works offline.
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
  register_extract: "выписка из реестра (PDF)", signed_document: "полис — подписанный XML-документ",
};
const FRESH_RU = { fresh: "актуальна", stale: "устарела, но действует", expired: "просрочена", absent: "нет" };
const SOURCE_RU = { snapshot: "локальная копия реестра", registry: "онлайн-реестр", none: "—" };
const FULL_ENP = /^[0-9]{16}$/;

function el(id) { return document.getElementById(id); }
function text(id, value) { const e = el(id); if (e) e.textContent = value == null || value === "" ? "—" : value; }

function ageText(seconds) {
  if (seconds == null) return "";
  if (seconds < 120) return Math.round(seconds) + "\u00a0с назад";
  if (seconds < 7200) return Math.round(seconds / 60) + "\u00a0мин назад";
  return Math.round(seconds / 3600) + "\u00a0ч назад";
}

function ruDate(iso) {
  if (!iso) return "";
  const [y, m, d] = iso.split("-");
  return d + "." + m + "." + y;
}

function clock(iso) { return new Date(iso).toLocaleTimeString("ru-RU"); }

// The ENP a verdict is about: the credential's, else the register's (temporary certificates,
// old policies: the register names the ENP behind the number).
function enpOf(verdict) {
  const c = verdict.credential || {};
  const reg = verdict.register || {};
  return c.enp || reg.enp || null;
}

function insurerText(verdict) {
  const ins = verdict.insurer;
  const c = verdict.credential || {};
  if (ins && ins.name) return ins.name + " (ОГРН " + ins.ogrn + ")";
  const ogrn = (ins && ins.ogrn) || (verdict.register || {}).smo_ogrn || c.smo_ogrn;
  return ogrn ? "ОГРН " + ogrn : "";
}

function attachmentText(verdict) {
  const a = verdict.attachment;
  if (!a) {
    const code = (verdict.register || {}).clinic;
    return code ? "МО " + code : "";
  }
  if (a.this_clinic === true) return "прикреплён к нашей поликлинике";
  const where = a.name ? a.name + " (МО " + a.code + ")" : "МО " + a.code;
  return a.this_clinic === false ? "прикреплён к другой МО: " + where : where;
}

function freshText(verdict) {
  let fresh = SOURCE_RU[verdict.source] || verdict.source;
  if (verdict.snapshot && verdict.source === "snapshot") {
    fresh += ", копия " + (FRESH_RU[verdict.snapshot.state] || verdict.snapshot.state) + " (" + ageText(verdict.snapshot.age_s) + ")";
  } else if (verdict.answered_at) {
    fresh += ", ответ " + clock(verdict.answered_at);
  }
  return fresh;
}

// The verdict box: outcome colour, the Russian title and the rest of the message.
function showVerdictBox(verdict) {
  const box = el("verdict");
  box.className = "verdict " + verdict.outcome;
  box.dataset.outcome = verdict.outcome;
  const msg = verdict.message || OUTCOME_RU[verdict.outcome] || verdict.outcome;
  const [title, ...rest] = msg.split(": ");
  text("status", title);
  el("reason").textContent = rest.join(": ");
}

function whoText(c) {
  return [c.surname, c.given_name, c.patronymic].filter(Boolean).join(" ");
}

// The live feed. ``query`` holds the screen and the token (EventSource cannot send headers);
// ``onHello`` gets what the daemon says about this feed (channel, masked, kiosk_reset_s).
function connectFeed(query, onScan, onHello) {
  let es = null;
  function open() {
    const qs = new URLSearchParams(query).toString();
    es = new EventSource("/v1/events" + (qs ? "?" + qs : ""));
    es.onopen = () => {
      el("conn").textContent = "на связи"; el("conn").className = "on";
      document.body.classList.remove("offline");
    };
    es.onerror = () => {
      el("conn").textContent = "нет связи с сервисом — переподключение…"; el("conn").className = "off";
      document.body.classList.add("offline");  // an old verdict must not look current
      if (es.readyState === EventSource.CLOSED) {  // the browser gave up: try again ourselves
        setTimeout(open, 3000);
      }
    };
    es.addEventListener("hello", (ev) => { if (onHello) onHello(JSON.parse(ev.data)); });
    es.addEventListener("scan", (ev) => {
      const e = JSON.parse(ev.data);
      onScan(e);
    });
  }
  open();
  return { close() { if (es) es.close(); }, reopen(q) { if (es) es.close(); query = q; open(); } };
}
