// The registry desk: the desk channel's verdicts (in full with this workstation's desk token),
// typed numbers, and the person search by name and birth date.
"use strict";
const TOKEN_KEY = "oms-desk-token";
const POLICY_TYPE_RU = {
  paper: "бумажный", card: "карта", digital: "цифровой", temporary: "временное свидетельство",
  old: "старого образца", uec: "УЭК",
};
const STATUS_RU = {
  active: "действует", suspended: "приостановлен", annulled: "аннулирован", expired: "истёк",
  needs_clarification: "требует уточнения",
};
const ERROR_RU = {
  too_large: "слишком длинный ввод", forbidden: "нет прав на проверку с этого экрана",
  unauthorized: "нужен токен рабочего места регистратуры", bad_text: "недопустимые символы",
};

// ?token= is for this page only (kiosk-style links); the form keeps the workstation's token.
const urlToken = new URLSearchParams(location.search).get("token");
function token() { return urlToken || localStorage.getItem(TOKEN_KEY) || ""; }
function authHeaders() { const t = token(); return t ? { Authorization: "Bearer " + t } : {}; }
let feed = null;

function feedQuery() { const t = token(); return t ? { access_token: t } : {}; }

function showTokenState(hello) {
  const state = el("token-state");
  if (!state) return;
  if (hello && !hello.masked) {
    state.textContent = "Рабочее место регистратуры: ФИО и ЕНП видны полностью";
    state.className = "full";
  } else if (token()) {
    state.textContent = "Токен не даёт прав регистратуры: ФИО и ЕНП скрыты";
    state.className = "masked";
  } else {
    state.textContent = "Без токена рабочего места: ФИО и ЕНП скрыты, поиск недоступен";
    state.className = "masked";
  }
  el("token-forget").hidden = !localStorage.getItem(TOKEN_KEY);
}

function saveToken(evt) {
  evt.preventDefault();
  const value = el("token-input").value.trim();
  if (!value) return;
  localStorage.setItem(TOKEN_KEY, value);
  el("token-input").value = "";
  feed.reopen(feedQuery());
}

function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
  feed.reopen(feedQuery());
}

function registerLine(summary) {
  const parts = [POLICY_TYPE_RU[summary.policy_type] || summary.policy_type,
    STATUS_RU[summary.status] || summary.status];
  if (summary.start) parts.push("с " + ruDate(summary.start));
  if (summary.end) parts.push("до " + ruDate(summary.end));
  return parts.filter(Boolean).join(", ");
}

function showCandidates(verdict) {
  const list = el("candidates");
  list.replaceChildren();
  const cands = verdict.candidates || [];
  el("candidates-box").hidden = cands.length === 0;
  for (const cand of cands) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "candidate";
    b.textContent = cand.enp;
    b.disabled = !FULL_ENP.test(cand.enp || "");  // masked: nothing to choose by
    b.addEventListener("click", () => checkTyped(cand.enp));
    li.appendChild(b);
    li.appendChild(document.createTextNode(" " + registerLine(cand)));
    list.appendChild(li);
  }
}

function show(verdict, source) {
  showVerdictBox(verdict);
  const c = verdict.credential || {};
  text("who", whoText(c));
  text("birth", ruDate(c.birth_date));
  const enp = enpOf(verdict);
  text("enp", enp);
  el("copy-enp").hidden = !FULL_ENP.test(enp || "");
  el("copy-enp").textContent = "Копировать";
  text("kind", KIND_RU[c.kind] || c.kind);
  text("insurer", insurerText(verdict));
  text("clinic", attachmentText(verdict));
  text("action", verdict.action);
  text("fresh", freshText(verdict));
  text("device", source);
  text("time", clock(verdict.checked_at));
  showCandidates(verdict);
}

function addHistory(verdict, source) {
  const list = el("history");
  const row = document.createElement("tr");
  for (const v of [clock(verdict.checked_at), OUTCOME_RU[verdict.outcome], enpOf(verdict) || "—", source]) {
    const td = document.createElement("td"); td.textContent = v; row.appendChild(td);
  }
  list.prepend(row);
  while (list.children.length > 15) list.removeChild(list.lastChild);
}

async function copyEnp() {
  const value = el("enp").textContent;
  try {
    await navigator.clipboard.writeText(value);
  } catch (_) {  // no clipboard API: select the number for Ctrl+C
    const range = document.createRange();
    range.selectNodeContents(el("enp"));
    const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    document.execCommand("copy");
  }
  el("copy-enp").textContent = "Скопировано";
}

async function post(path, body) {
  return fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify(body),
  });
}

async function problemText(r) {
  try {
    const p = await r.json();
    return ERROR_RU[p.code] || p.detail || String(r.status);
  } catch (_) {
    return String(r.status);
  }
}

// A typed number goes to the desk channel (publish) and never to a kiosk. On error the entry
// stays for correction and the line says exactly what is wrong with it.
async function checkTyped(value) {
  el("error").textContent = "";
  let r;
  try {
    r = await post("/v1/verify?publish=true", { text: value, typed: true });
  } catch (_) {
    el("error").textContent = "Не принято: нет связи с сервисом";
    return false;
  }
  if (!r.ok) {
    el("error").textContent = "Не принято: " + await problemText(r);
    return false;
  }
  return true;
}

// A file the patient sent or showed: the register extract (PDF), the signed XML policy or a photo
// of the barcode. It goes to the desk channel like a typed number; the verdict comes by the feed.
const FILE_TYPES = {
  pdf: "application/pdf", xml: "application/xml",
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg",
};

function fileType(file) {
  if (Object.values(FILE_TYPES).includes(file.type)) return file.type;
  if (file.type === "text/xml") return file.type;
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  return FILE_TYPES[ext] || "application/octet-stream";
}

async function checkFile(file) {
  if (!file) return;
  el("error").textContent = "";
  let r;
  try {
    r = await fetch("/v1/verify?publish=true", {
      method: "POST",
      headers: { "Content-Type": fileType(file), ...authHeaders() },
      body: await file.arrayBuffer(),
    });
  } catch (_) {
    el("error").textContent = "Файл не принят: нет связи с сервисом";
    return;
  }
  if (!r.ok) el("error").textContent = "Файл не принят: " + await problemText(r);
}

function dropFile(evt) {
  evt.preventDefault();
  el("file-drop").classList.remove("over");
  const file = evt.dataTransfer && evt.dataTransfer.files && evt.dataTransfer.files[0];
  checkFile(file);
}

async function typed(evt) {
  evt.preventDefault();
  const value = el("enp-input").value.trim();
  if (!value) return;
  if (await checkTyped(value)) el("enp-input").value = "";
}

function searchRow(verdict) {
  const c = verdict.credential || {};
  const li = document.createElement("li");
  li.className = "found " + verdict.outcome;
  li.dataset.outcome = verdict.outcome;
  const enp = document.createElement("span");
  enp.className = "found-enp";
  enp.textContent = enpOf(verdict) || "—";
  const what = document.createElement("span");
  what.textContent = " " + whoText(c) + ", " + ruDate(c.birth_date) + " — " + (OUTCOME_RU[verdict.outcome] || verdict.outcome);
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = "Показать";
  b.addEventListener("click", () => show(verdict, "поиск по ФИО"));
  li.append(enp, what, " ", b);
  return li;
}

async function find(evt) {
  evt.preventDefault();
  const list = el("search-results");
  el("search-error").textContent = "";
  el("search-notes").textContent = "";
  list.replaceChildren();
  const body = {
    surname: el("s-surname").value.trim(),
    given_name: el("s-given").value.trim(),
    patronymic: el("s-patronymic").value.trim() || null,
    birth_date: el("s-birth").value,
    mode: el("s-mode").value,
  };
  if (!body.surname || !body.given_name || !body.birth_date) {
    el("search-error").textContent = "Укажите фамилию, имя и дату рождения";
    return;
  }
  let r;
  try {
    r = await post("/v1/search", body);
  } catch (_) {
    el("search-error").textContent = "Поиск не выполнен: нет связи с сервисом";
    return;
  }
  if (!r.ok) {
    el("search-error").textContent = "Поиск не выполнен: " + await problemText(r);
    return;
  }
  const res = await r.json();
  const where = SOURCE_RU[res.source] || res.source;
  el("search-state").textContent = res.candidates.length
    ? "Найдено: " + res.candidates.length + " (" + where + ")"
    : "Никого не найдено (" + where + ")";
  el("search-state").dataset.count = String(res.candidates.length);
  for (const v of res.candidates) list.appendChild(searchRow(v));
  if (res.candidates.length === 1) show(res.candidates[0], "поиск по ФИО");
  if (res.notes && res.notes.length) el("search-notes").textContent = res.notes.join("; ");
}

window.addEventListener("DOMContentLoaded", () => {
  el("typed").addEventListener("submit", typed);
  el("search-form").addEventListener("submit", find);
  el("token-form").addEventListener("submit", saveToken);
  el("token-forget").addEventListener("click", forgetToken);
  el("copy-enp").addEventListener("click", copyEnp);
  el("file-input").addEventListener("change", (e) => { checkFile(e.target.files[0]); e.target.value = ""; });
  document.addEventListener("dragover", (e) => { e.preventDefault(); el("file-drop").classList.add("over"); });
  document.addEventListener("dragleave", () => el("file-drop").classList.remove("over"));
  document.addEventListener("drop", dropFile);
  feed = connectFeed(feedQuery(), (e) => { show(e.verdict, e.source); addHistory(e.verdict, e.source); }, showTokenState);
  showTokenState(null);
});
