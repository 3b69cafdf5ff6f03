// Stateless Auth demo: the reference for a browser client of the service.
//
// The rules it follows, and why:
// - The access token lives only in the `accessToken` variable of this closure. Never in
//   localStorage, sessionStorage or a readable cookie: any script that runs on the page
//   (an XSS, a compromised dependency) can read those, and they outlive the tab.
// - The refresh token lives only in the `__Host-refresh_token` cookie, which the API
//   sets HttpOnly (no script can read it), Secure, SameSite=Strict and Path=/. This
//   page never sees it; the browser sends it with POST /auth/refresh and /auth/logout.
// - A reload loses the variable; the page gets a new access token by calling
//   POST /auth/refresh, which the cookie authorises. No cookie (or an ended session):
//   the user is signed out.
// - The page is served with a strict Content-Security-Policy (scripts only from this
//   origin, fetch only to this origin) and Referrer-Policy: no-referrer.
(function () {
  "use strict";

  // Same-origin requests (relative URLs): the page and the API share an origin, so the
  // cookie is first-party and connect-src 'self' suffices. An app on another origin of
  // the same site would use the API's absolute URL and credentials: "include".
  var API = "";
  var CREDENTIALS = "same-origin";
  // Refresh this long before the access token expires (at most a fifth of its life), so
  // that a call never goes out with a token about to lapse on the way.
  var REFRESH_MARGIN_SECONDS = 60;

  var accessToken = null; // the only copy: memory, never storage
  var refreshTimer = null;
  var refreshing = null; // the refresh in flight, shared by every caller

  var $ = function (id) { return document.getElementById(id); };

  function say(text, isError) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  function describe(reply) {
    var body = reply.body || {};
    return reply.status + " " + (body.error || "") + (body.message ? ": " + body.message : "");
  }

  // One request to the API. JSON bodies always say Content-Type: application/json (the
  // API answers 415 otherwise, which is also what stops cross-site form posts).
  function request(method, path, body, token) {
    var headers = {};
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: CREDENTIALS,
      // No cache for anything carrying tokens or account data.
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { status: response.status, ok: response.ok, body: parsed };
      });
    });
  }

  // A call that needs the access token. On a 401 (the token expired early, the clock
  // drifted, the keys rotated) it refreshes once and retries once; a second 401 means
  // the session is over.
  function authorised(method, path, body) {
    var send = function () { return request(method, path, body, accessToken); };
    var attempt = accessToken ? send() : Promise.resolve({ status: 401, ok: false, body: null });
    return attempt.then(function (reply) {
      if (reply.status !== 401) { return reply; }
      return refresh().then(function (ok) {
        if (!ok) { return reply; }
        return send();
      });
    });
  }

  function setToken(grant) {
    accessToken = grant.access_token;
    clearTimeout(refreshTimer);
    var lifetime = Number(grant.expires_in) || 0;
    var margin = Math.min(REFRESH_MARGIN_SECONDS, lifetime / 5);
    refreshTimer = setTimeout(function () {
      refresh().then(function (ok) { if (!ok) { show(); } });
    }, Math.max(1, lifetime - margin) * 1000);
  }

  function forget() {
    accessToken = null;
    clearTimeout(refreshTimer);
    refreshTimer = null;
  }

  // POST /auth/refresh with the cookie, no body. Every refresh rotates the refresh token
  // and presenting a rotated one again revokes the whole session (reuse detection), so
  // two refreshes must never race with the same cookie: one in flight per page (the
  // `refreshing` promise) and one at a time across this origin's tabs (a Web Lock, where
  // the browser has them; the second tab then sends the cookie the first one received).
  function refresh() {
    if (refreshing) { return refreshing; }
    var run = function () {
      return request("POST", "/auth/refresh").then(function (reply) {
        if (reply.ok && reply.body && reply.body.access_token) {
          setToken(reply.body);
          return true;
        }
        forget();
        // 400: no cookie (never logged in here, logged out, or the browser refused it);
        // 401: the session was ended, expired or its token reused.
        if (reply.status !== 400) { say("Your session has ended: " + describe(reply), true); }
        return false;
      }, function (error) {
        forget();
        say("The refresh failed: " + error, true);
        return false;
      });
    };
    var locked = navigator.locks && navigator.locks.request
      ? navigator.locks.request("stateless-auth-refresh", run)
      : run();
    refreshing = locked.then(function (ok) { refreshing = null; return ok; });
    return refreshing;
  }

  function view(name) {
    ["verify-view", "reset-view", "signed-out-view", "signed-in-view"].forEach(function (id) {
      $(id).hidden = id !== name;
    });
  }

  function text(value) { return value === null || value === undefined ? "" : String(value); }

  function when(seconds) { return seconds ? new Date(seconds * 1000).toLocaleString() : ""; }

  // Session data comes from the server but is still shown with textContent only, never
  // innerHTML: a User-Agent is whatever the logging-in client sent.
  function renderSessions(sessions) {
    var list = $("sessions");
    list.replaceChildren();
    sessions.forEach(function (session) {
      var item = document.createElement("li");
      item.dataset.sessionId = session.session_id;
      item.className = session.current ? "current" : "";
      var label = document.createElement("span");
      label.textContent = (session.current ? "This session: " : "") + text(session.user_agent) +
        " from " + text(session.ip) + ", since " + when(session.created_at) +
        ", last used " + when(session.last_used_at);
      var end = document.createElement("button");
      end.type = "button";
      end.textContent = "End this session";
      end.addEventListener("click", function () { endSession(session.session_id); });
      item.append(label, " ", end);
      list.append(item);
    });
  }

  function loadSessions() {
    return authorised("GET", "/auth/sessions").then(function (reply) {
      if (reply.ok) { renderSessions(reply.body.sessions || []); }
      else { say("Could not list the sessions: " + describe(reply), true); }
    });
  }

  function endSession(sessionId) {
    authorised("DELETE", "/auth/sessions/" + encodeURIComponent(sessionId)).then(function (reply) {
      if (reply.status === 204) { say("Session ended."); }
      else { say("Could not end the session: " + describe(reply), true); }
      // Ending the current session ends this sign-in too: its next refresh will fail.
      return loadSessions();
    });
  }

  // The signed-in or signed-out view, from GET /me.
  function show() {
    if (!accessToken) {
      $("status").textContent = "Signed out";
      view("signed-out-view");
      return Promise.resolve();
    }
    return authorised("GET", "/me").then(function (reply) {
      if (!reply.ok) {
        forget();
        $("status").textContent = "Signed out";
        view("signed-out-view");
        return;
      }
      $("status").textContent = "Signed in as " + reply.body.email;
      $("me").textContent = JSON.stringify(reply.body, null, 2);
      view("signed-in-view");
      return loadSessions();
    });
  }

  function signedOut(message) {
    forget();
    $("me").textContent = "";
    $("sessions").replaceChildren();
    say(message);
    return show();
  }

  function onSubmit(id, handler) {
    $(id).addEventListener("submit", function (event) {
      event.preventDefault();
      handler(event.target);
    });
  }

  function value(id) { return $(id).value; }

  function clear(ids) { ids.forEach(function (id) { $(id).value = ""; }); }

  function bindSignedOut() {
    onSubmit("signup-form", function () {
      request("POST", "/auth/signup", { email: value("signup-email"), password: value("signup-password") })
        .then(function (reply) {
          clear(["signup-password"]);
          // 202 whether the address is new or taken: the answer reveals no account.
          if (reply.status === 202) { say("Check your mail (" + reply.body.email + ") for the link."); }
          else { say("Sign-up failed: " + describe(reply), true); }
        });
    });
    onSubmit("resend-form", function () {
      request("POST", "/auth/verify-email/resend", { email: value("resend-email") }).then(function (reply) {
        say(reply.status === 202 ? "If the address waits for verification, a new link is on its way."
          : "Could not resend: " + describe(reply), reply.status !== 202);
      });
    });
    onSubmit("login-form", function () {
      // refresh_token_delivery is left at its default, "cookie": the refresh token goes
      // to the HttpOnly cookie and never appears in a body this script can read.
      request("POST", "/auth/login", { email: value("login-email"), password: value("login-password") })
        .then(function (reply) {
          clear(["login-password"]);
          if (!reply.ok) { say("Login failed: " + describe(reply), true); return; }
          setToken(reply.body);
          say("Logged in.");
          return show();
        });
    });
    onSubmit("forgot-form", function () {
      request("POST", "/auth/password/forgot", { email: value("forgot-email") }).then(function (reply) {
        say(reply.status === 202 ? "If an account has this address, a reset link is on its way."
          : "Could not ask for a reset: " + describe(reply), reply.status !== 202);
      });
    });
  }

  function bindSignedIn() {
    $("logout").addEventListener("click", function () {
      // The cookie authorises the logout; the answer clears it (204 even without one).
      request("POST", "/auth/logout").then(function () { return signedOut("Logged out."); });
    });
    $("reload-sessions").addEventListener("click", function () { loadSessions(); });
    $("logout-all").addEventListener("click", function () {
      authorised("POST", "/auth/logout-all").then(function (reply) {
        if (reply.status === 204) { return signedOut("Logged out everywhere."); }
        say("Could not log out everywhere: " + describe(reply), true);
      });
    });
    onSubmit("change-form", function () {
      authorised("POST", "/auth/password/change", {
        current_password: value("current-password"), new_password: value("new-password")
      }).then(function (reply) {
        clear(["current-password", "new-password"]);
        // This session stays; every other one is ended.
        if (reply.status === 204) { say("Password changed; your other sessions were ended."); return loadSessions(); }
        say("Could not change the password: " + describe(reply), true);
      });
    });
    onSubmit("delete-form", function () {
      if (!window.confirm("Delete your account and every session for good?")) { return; }
      authorised("DELETE", "/me", { password: value("delete-password") }).then(function (reply) {
        clear(["delete-password"]);
        if (reply.status === 204) { return signedOut("Your account was deleted."); }
        say("Could not delete the account: " + describe(reply), true);
      });
    });
  }

  // The mail links carry their one-time token in the fragment (#token=...), which the
  // browser never sends to a server nor puts in a Referer. Read it, then remove it from
  // the address bar and history at once.
  function takeToken() {
    var token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
    history.replaceState(null, "", location.pathname);
    return token;
  }

  function linkPage(form, token, handler) {
    if (!token) { say("This link has no token (#token=...).", true); return; }
    $(form).addEventListener("submit", function (event) {
      event.preventDefault();
      handler(token);
    });
  }

  function start() {
    bindSignedOut();
    bindSignedIn();
    var path = location.pathname.replace(/\/+$/, "");
    if (/\/verify-email$/.test(path)) {
      $("status").textContent = "Email verification";
      view("verify-view");
      // A click, not the page load, posts the token: mail scanners that open links (some
      // run scripts) must not verify an address for whoever signed it up.
      linkPage("verify-form", takeToken(), function (token) {
        request("POST", "/auth/verify-email", { token: token }).then(function (reply) {
          $("verify-form").hidden = true;
          if (reply.ok) { say("Your email " + reply.body.email + " is verified. You can log in."); }
          else { say("Verification failed: " + describe(reply), true); }
        });
      });
      return;
    }
    if (/\/reset-password$/.test(path)) {
      $("status").textContent = "Password reset";
      view("reset-view");
      linkPage("reset-form", takeToken(), function (token) {
        request("POST", "/auth/password/reset", { token: token, password: value("reset-password") })
          .then(function (reply) {
            clear(["reset-password"]);
            // A reset ends every session and logs nobody in: log in with the new password.
            if (reply.status === 204) { $("reset-form").hidden = true; say("Password set. You can log in."); }
            else { say("Reset failed: " + describe(reply), true); }
          });
      });
      return;
    }
    // A reload (or a new tab) restores the session from the cookie, if there is one.
    refresh().then(show);
  }

  start();
}());
