// The account pages' shared helpers (served same-origin: CSP script-src 'self'; no build
// step: plain scripts loaded in order by base.html, this one first). Tokens are kept in
// variables only: never in localStorage, sessionStorage or cookies, so they end with the page.
"use strict";

const JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"};

function $(id) {
  return document.getElementById(id);
}

function say(text, kind) {
  const message = $("message");
  message.textContent = text;
  message.className = "message " + (kind || "info");
}

async function problemText(response) {
  // RFC 9457 problem+json: show its detail (what the service says went wrong).
  try {
    const problem = await response.json();
    if (problem && (problem.detail || problem.title)) {
      return problem.detail || problem.title;
    }
  } catch (error) {
    // not JSON: fall through
  }
  return "The request failed (HTTP " + response.status + ").";
}

// The problem's machine-readable `code` (e.g. mfa_required), without consuming the body.
async function problemCode(response) {
  try {
    const problem = await response.clone().json();
    return problem && problem.code ? problem.code : "";
  } catch (error) {
    return "";
  }
}

async function call(method, path, body, accessToken) {
  const headers = body === undefined ? {"Accept": "application/json"} : {...JSON_HEADERS};
  if (accessToken) {
    headers["Authorization"] = "Bearer " + accessToken;
  }
  // same-origin: the login's HttpOnly device cookie (set by the service, unreadable
  // here) makes this browser a known client of the account for login throttling.
  const options = {method, headers, credentials: "same-origin", cache: "no-store"};
  if (body !== undefined) {
    options.body = JSON.stringify(body);
  }
  return fetch(path, options);
}

function busy(form, on) {
  for (const element of form.querySelectorAll("button, input")) {
    element.disabled = on;
  }
}
