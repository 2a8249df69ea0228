// The demo page: the broker's public API only, same origin. Everything shown from an answer is set
// with textContent (or as a checked http(s) href), never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const LONG_POLL_SECONDS = 25;
const IDENTITY_FIELDS = ["country", "personal_code", "given_name", "surname", "date_of_birth", "subject"];

let methods = [];
let current = null; // {id, final, controller}: the session on screen

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// One API call, logged with its request and its answer; resolves to {status, headers, data}.
async function call(method, path, body, signal) {
  const headers = { "x-api-key": $("api-key").value.trim() };
  if (body !== undefined) headers["content-type"] = "application/json";
  const entry = logCall(method, path, headers, body);
  try {
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await response.text();
    let data = text;
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: shown as text
    }
    logAnswer(entry, response, data);
    return { status: response.status, headers: response.headers, data };
  } catch (error) {
    logAnswer(entry, null, error.name === "AbortError" ? "(stopped: another session started)" : String(error));
    throw error;
  }
}

function logCall(method, path, headers, body) {
  const item = element("li");
  const title = element("p", `${method} ${path}`, "call");
  const answer = element("span", "…", "answer");
  title.append(answer);
  const request = element("pre");
  request.append(element("span", "request", "label"));
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  request.append(lines.join("\n") + (body === undefined ? "" : "\n\n" + pretty(body)));
  const response = element("pre");
  response.append(element("span", "response", "label"), "…");
  const pair = element("div", undefined, "pair");
  pair.append(request, response);
  item.append(title, pair);
  $("log").append(item);
  show("log-empty", false);
  $("log-panel").scrollTop = item.offsetTop - 8; // the newest call, inside the panel only
  return { answer, response };
}

function logAnswer(entry, response, data) {
  entry.response.replaceChildren(element("span", "response", "label"));
  if (response === null) {
    entry.answer.textContent = "no answer";
    entry.answer.className = "answer bad";
    entry.response.append(pretty(data));
    return;
  }
  entry.answer.textContent = `${response.status} ${response.statusText}`;
  entry.answer.className = response.ok ? "answer ok" : "answer bad";
  const lines = ["content-type", "retry-after", "x-request-id"]
    .filter((name) => response.headers.has(name))
    .map((name) => `${name}: ${response.headers.get(name)}`);
  entry.response.append(lines.join("\n") + "\n\n" + pretty(data));
}

function fillMethods() {
  const select = $("method");
  for (const method of methods) {
    const option = element("option", `${method.label} (${method.method})`);
    option.value = method.method;
    select.append(option);
  }
  fillPersonas();
}

function fillPersonas() {
  const method = methods.find((m) => m.method === $("method").value);
  const select = $("persona");
  select.replaceChildren();
  if (!method.personas.length) select.append(element("option", "none: this provider is not the built-in sandbox"));
  method.personas.forEach((persona, index) => {
    const option = element("option", persona.label);
    option.value = String(index);
    select.append(option);
  });
  fillBody();
}

function fillBody() {
  const method = methods.find((m) => m.method === $("method").value);
  const persona = method.personas[Number($("persona").value)];
  const body = { ...(persona ? persona.body : {}) };
  if (body.return_url === "RETURN_URL") body.return_url = new URL("/demo/", location.href).href;
  $("body").value = JSON.stringify(body, null, 2);
  show("body-error", false);
}

// A problem+json answer (or API Gateway's own {"message"}) as [code, message].
function problem(status, data) {
  if (!data || typeof data !== "object") return [`HTTP ${status}`, String(data || "")];
  const fields = (data.errors || []).map((e) => `${e.field}: ${e.message}`);
  return [data.code || `HTTP ${status}`, [data.detail || data.message, ...fields].filter(Boolean).join(" ")];
}

function resetSession() {
  if (current && current.controller) current.controller.abort();
  current = null;
  for (const id of ["control-code-box", "redirect-box", "otp-form", "waiting", "cancel", "identity-box", "error-box", "otp-error"]) {
    show(id, false);
  }
}

function showError(code, message) {
  $("error-code").textContent = code;
  $("error-message").textContent = message || "";
  show("error-box", true);
}

function render(session) {
  if (!current || session.session_id !== current.id) return;
  if (current.final) return; // a final status never changes; a late read cannot undo it
  const pending = session.status === "pending";
  current.final = !pending;
  show("session", true);
  $("status").textContent = session.status;
  $("status").className = `status ${session.status}`;
  $("session-id").textContent = session.session_id;
  $("reference").textContent = session.reference ?? "";
  show("reference-box", Boolean(session.reference));

  const action = pending ? session.next_action : null;
  const type = action ? action.type : null;
  show("control-code-box", type === "show_control_code");
  show("redirect-box", type === "redirect");
  show("otp-form", type === "enter_otp");
  if (type === "show_control_code") $("control-code").textContent = action.control_code;
  if (type === "redirect") {
    const link = $("redirect-link");
    const url = new URL(action.url, location.href);
    if (url.protocol === "https:" || url.protocol === "http:") link.href = url.href;
    else link.removeAttribute("href");
    link.textContent = action.url;
    $("redirect-expires").textContent = action.expires_at || "—";
  }
  if (type === "enter_otp") {
    $("otp-channels").textContent = (action.channels || []).join(" and ");
    $("attempts-left").textContent = String(action.attempts_left);
    $("otp-expires").textContent = action.expires_at || "—";
  }
  show("waiting", pending && type !== "enter_otp");
  show("cancel", pending);

  show("identity-box", Boolean(session.identity));
  if (session.identity) {
    const list = $("identity");
    list.replaceChildren();
    for (const field of IDENTITY_FIELDS) {
      list.append(element("dt", field), element("dd", session.identity[field] ?? "—"));
    }
    const evidence = session.identity.evidence;
    if (evidence && Object.keys(evidence).length) {
      const dd = element("dd");
      dd.append(element("pre", pretty(evidence)));
      list.append(element("dt", "evidence"), dd);
    }
    const credentials = session.credentials;
    show("credentials", Boolean(credentials));
    if (credentials) {
      $("credentials").textContent =
        `credentials: a ${credentials.type} valid until ${credentials.expires_at}, handed over only in this answer`;
    }
  }
  show("error-box", Boolean(session.error));
  if (session.error) {
    const { code, message, provider, provider_code: providerCode } = session.error;
    const origin = provider ? ` (${provider}${providerCode ? " " + providerCode : ""})` : "";
    showError(code, `${message || ""}${origin}`);
  }
}

async function watch(id) {
  while (current && current.id === id && !current.final) {
    const path = `/v1/sessions/${encodeURIComponent(id)}?wait=${LONG_POLL_SECONDS}`;
    let answer;
    try {
      answer = await call("GET", path, undefined, current.controller.signal);
    } catch {
      return; // stopped, or the stack is gone: the log shows which
    }
    if (answer.status !== 200) {
      showError(...problem(answer.status, answer.data));
      return;
    }
    render(answer.data);
  }
}

async function start(event) {
  event.preventDefault();
  let body;
  try {
    body = JSON.parse($("body").value);
  } catch (error) {
    $("body-error").textContent = `The start body is not JSON: ${error.message}`;
    show("body-error", true);
    return;
  }
  show("body-error", false);
  resetSession();
  $("log").replaceChildren();
  const method = $("method").value;
  $("start").disabled = true;
  try {
    const answer = await call("POST", `/v1/sessions/${encodeURIComponent(method)}`, body);
    if (answer.status === 201) {
      current = { id: answer.data.session_id, final: false, controller: new AbortController() };
      render(answer.data);
      watch(current.id);
    } else {
      show("session", true);
      $("status").textContent = "not started";
      $("status").className = "status failed";
      $("session-id").textContent = "";
      show("reference-box", false);
      const [code, message] = problem(answer.status, answer.data);
      const retry = answer.headers.get("retry-after");
      showError(code, retry ? `${message} Retry after ${retry} s.` : message);
    }
  } catch {
    show("session", true);
    showError("NO_ANSWER", "The broker did not answer: is make run still running?");
  } finally {
    $("start").disabled = false;
  }
}

async function submitOtp(event) {
  event.preventDefault();
  if (!current) return;
  show("otp-error", false);
  $("otp-submit").disabled = true;
  try {
    const path = `/v1/sessions/${encodeURIComponent(current.id)}/otp`;
    const answer = await call("POST", path, { otp: $("otp").value.trim() });
    if (answer.status === 200) {
      render(answer.data);
      $("otp").value = "";
    } else {
      $("otp-error").textContent = problem(answer.status, answer.data).join(": ");
      show("otp-error", true);
    }
  } catch {
    // logged
  } finally {
    $("otp-submit").disabled = false;
  }
}

async function cancel() {
  if (!current) return;
  try {
    const answer = await call("DELETE", `/v1/sessions/${encodeURIComponent(current.id)}`);
    if (answer.status === 200) render(answer.data);
  } catch {
    // logged
  }
}

async function init() {
  $("start-form").addEventListener("submit", start);
  $("otp-form").addEventListener("submit", submitOtp);
  $("cancel").addEventListener("click", cancel);
  $("method").addEventListener("change", fillPersonas);
  $("persona").addEventListener("change", fillBody);
  const response = await fetch("/demo/personas.json");
  methods = await response.json();
  fillMethods();
}

init();
