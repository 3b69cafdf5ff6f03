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
// - Two-step verification: an mfa_token (the login's answer for an account with a second
//   factor, or under MFA=required for one without) is a credential too, for 5 minutes:
//   memory only, like the access token, and dropped once used or expired. The TOTP secret
//   and the recovery codes are shown once and removed from the page when done.
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

  // The login's second step: the mfa_token (memory only) and whether it is the
  // enrol-purpose one of MFA=required (the Bearer of enroll and confirm, nothing else).
  var mfaToken = null;
  var mfaEnrolling = false;
  var mfaTimer = null;
  // Whether the account has two-step verification on, as far as this page knows: from
  // the session's amr at first (a session opened with a code or a recovery code), then
  // from what this page did (confirm, turn off) and the API's 409 answers.
  var mfaOn = null;

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
        return {
          status: response.status,
          ok: response.ok,
          body: parsed,
          retryAfter: response.headers.get("Retry-After")
        };
      });
    });
  }

  // A call that needs the access token. On the gateway's 401 (no token: it expired early,
  // the clock drifted, the keys rotated) it refreshes once and retries once; a second 401
  // means the session is over. A 401 of the service itself (invalid_credentials: a wrong
  // password or code) is an answer, never retried: each try counts toward the lock-out.
  function authorised(method, path, body) {
    var send = function () { return request(method, path, body, accessToken); };
    var attempt = accessToken ? send() : Promise.resolve({ status: 401, ok: false, body: null });
    return attempt.then(function (reply) {
      if (reply.status !== 401 || (reply.body && reply.body.error)) { return reply; }
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

  // Show the sections named (one, or a list), hide the others.
  function view(names) {
    var shown = [].concat(names);
    ["verify-view", "reset-view", "signed-out-view", "mfa-login-view", "signed-in-view", "mfa-view",
      "delete-view"].forEach(function (id) { $(id).hidden = shown.indexOf(id) < 0; });
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

  // The signed-in or signed-out view, from GET /me; or the login's second step.
  function show() {
    if (mfaToken && mfaEnrolling) {
      $("status").textContent = "Set up two-step verification";
      view("mfa-view");
      renderMfa();
      return Promise.resolve();
    }
    if (mfaToken) {
      $("status").textContent = "Two-step verification";
      view("mfa-login-view");
      $("mfa-login-code").focus();
      return Promise.resolve();
    }
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
      // How this session was opened: the access token's own claims (shown, not trusted:
      // the API verified the token; this page only reads it).
      var claims = tokenClaims(accessToken);
      var amr = Array.isArray(claims.amr) ? claims.amr : [];
      var acr = typeof claims.acr === "string" ? claims.acr : "aal1";
      $("assurance").textContent = "acr " + acr + " (amr: " + amr.join(", ") + ")";
      $("assurance").dataset.acr = acr;
      $("assurance").dataset.amr = amr.join(" ");
      if (mfaOn === null) {
        mfaOn = amr.indexOf("otp") >= 0 || amr.indexOf("mfa") >= 0;
      }
      view(["signed-in-view", "mfa-view", "delete-view"]);
      renderMfa();
      return loadSessions();
    });
  }

  // The payload of a JWT, for display only (base64url JSON; {} if it is not one).
  function tokenClaims(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    } catch (e) {
      return {};
    }
  }

  function signedOut(message) {
    forget();
    dropMfaToken();
    mfaOn = null;
    endEnrolment();
    hideCodes();
    $("me").textContent = "";
    $("assurance").textContent = "";
    $("sessions").replaceChildren();
    say(message);
    return show();
  }

  // ---- Two-step verification -----------------------------------------------------------

  function holdMfaToken(grant, enrolling) {
    mfaToken = grant.mfa_token;
    mfaEnrolling = enrolling;
    clearTimeout(mfaTimer);
    mfaTimer = setTimeout(function () {
      dropMfaToken();
      endEnrolment();
      say("The sign-in step expired (5 minutes): log in again.", true);
      show();
    }, Math.max(1, Number(grant.expires_in) || 300) * 1000);
  }

  function dropMfaToken() {
    mfaToken = null;
    mfaEnrolling = false;
    clearTimeout(mfaTimer);
    mfaTimer = null;
  }

  // One field takes either: six digits are a code from the app, anything else a recovery
  // code (which the API reads ignoring case, spaces and dashes).
  function secondFactor(id) {
    var raw = value(id).trim();
    var digits = raw.replace(/\s+/g, "");
    return /^[0-9]{6}$/.test(digits) ? { code: digits } : { recovery_code: raw };
  }

  function errorOf(reply) { return (reply.body && reply.body.error) || ""; }

  function lockedOut(reply) {
    return "Too many attempts: try again in " + (reply.retryAfter || "a few") + " seconds.";
  }

  // Enrol and confirm: with the enrol-purpose mfa_token under MFA=required (the only
  // routes it opens; no refresh, it is not a session), else with the access token.
  // The gateway's 401/403 to the enrol token means it expired (5 minutes): start again.
  function mfaCall(method, path, body) {
    if (!mfaEnrolling) { return authorised(method, path, body); }
    return request(method, path, body, mfaToken).then(function (reply) {
      if ((reply.status === 401 || reply.status === 403) && !errorOf(reply)) {
        dropMfaToken();
        endEnrolment();
        show();
        reply.expired = true;
      }
      return reply;
    });
  }

  function expired(reply) {
    if (reply.expired) { say("The sign-in step expired (5 minutes): log in again.", true); }
    return Boolean(reply.expired);
  }

  function renderMfa() {
    if (mfaEnrolling) {
      $("mfa-state").textContent = "This service asks every account for a second factor: " +
        "set it up now, then log in again with your password and a code.";
    } else {
      $("mfa-state").textContent = mfaOn
        ? "On: logging in asks for a code from your authenticator app (or a recovery code)."
        : "Off: your password alone logs you in.";
    }
    $("mfa-enrol").hidden = Boolean(mfaOn);
    $("mfa-manage").hidden = !mfaOn || mfaEnrolling;
  }

  // The QR code of the otpauth:// URI, drawn as SVG elements (never markup from a string):
  // qrcode-generator (vendor/qrcode.js) computes which modules are dark.
  var SVG_NS = "http://www.w3.org/2000/svg";
  var QUIET_ZONE = 4; // modules of white around the code, as the standard asks

  function svgElement(name, attributes) {
    var element = document.createElementNS(SVG_NS, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    return element;
  }

  function drawQrCode(place, text) {
    place.replaceChildren();
    if (typeof window.qrcode !== "function") {
      place.textContent = "(No QR code: the library did not load. Type the key instead.)";
      return;
    }
    var qrcode = window.qrcode;
    qrcode.stringToBytes = qrcode.stringToBytesFuncs["UTF-8"];
    var code = qrcode(0, "M"); // the smallest version that holds the URI; medium correction
    code.addData(text);
    code.make();
    var count = code.getModuleCount();
    var size = count + 2 * QUIET_ZONE;
    var path = [];
    for (var row = 0; row < count; row += 1) {
      for (var column = 0; column < count; column += 1) {
        if (code.isDark(row, column)) {
          path.push("M" + (column + QUIET_ZONE) + " " + (row + QUIET_ZONE) + "h1v1h-1z");
        }
      }
    }
    var svg = svgElement("svg", {
      viewBox: "0 0 " + size + " " + size,
      width: String(size * 5),
      height: String(size * 5),
      role: "img",
      "aria-label": "QR code of the otpauth URI",
      "shape-rendering": "crispEdges"
    });
    svg.append(
      svgElement("rect", { width: String(size), height: String(size), fill: "#fff" }),
      svgElement("path", { d: path.join(""), fill: "#000" })
    );
    place.append(svg);
  }

  function showSecret(enrolment) {
    $("mfa-secret").textContent = enrolment.secret;
    $("mfa-uri").textContent = enrolment.otpauth_uri;
    drawQrCode($("mfa-qr"), enrolment.otpauth_uri);
    $("mfa-enrol-secret").hidden = false;
    $("mfa-confirm-code").focus();
  }

  // The secret leaves the page once it is confirmed, abandoned or expired.
  function endEnrolment() {
    $("mfa-enrol-secret").hidden = true;
    $("mfa-secret").textContent = "";
    $("mfa-uri").textContent = "";
    $("mfa-qr").replaceChildren();
    clear(["mfa-enrol-password", "mfa-confirm-code"]);
  }

  function showCodes(codes) {
    var list = $("mfa-recovery-codes");
    list.replaceChildren();
    (codes || []).forEach(function (code) {
      var item = document.createElement("li");
      item.textContent = code;
      list.append(item);
    });
    $("mfa-codes").hidden = false;
  }

  function hideCodes() {
    $("mfa-recovery-codes").replaceChildren();
    $("mfa-codes").hidden = true;
  }

  // The login's second step: POST /auth/mfa/verify with the mfa_token and a code or a
  // recovery code. The answer is the usual token response (and the refresh cookie).
  function verifySecondFactor() {
    var body = secondFactor("mfa-login-code");
    body.mfa_token = mfaToken;
    return request("POST", "/auth/mfa/verify", body).then(function (reply) {
      clear(["mfa-login-code"]);
      if (reply.ok && reply.body && reply.body.access_token) {
        dropMfaToken();
        mfaOn = null; // from this session's amr
        setToken(reply.body);
        say(body.code ? "Logged in with a code."
          : "Logged in with a recovery code. It will not work again; a notice was mailed.");
        return show();
      }
      if (reply.status === 401 && errorOf(reply) === "invalid_credentials") {
        // Counted as a failed login; the same mfa_token may try again until it expires.
        say("That code is not right (or was used already): " + describe(reply), true);
        return;
      }
      dropMfaToken();
      if (reply.status === 429) { say(lockedOut(reply), true); }
      else if (reply.status === 401) { say("The sign-in step expired or the account changed: log in again.", true); }
      else { say("Login failed: " + describe(reply), true); }
      return show();
    });
  }

  function bindMfa() {
    onSubmit("mfa-login-form", verifySecondFactor);
    $("mfa-login-cancel").addEventListener("click", function () {
      dropMfaToken();
      say("");
      show();
    });

    onSubmit("mfa-enrol-form", function () {
      mfaCall("POST", "/auth/mfa/totp/enroll", { password: value("mfa-enrol-password") })
        .then(function (reply) {
          clear(["mfa-enrol-password"]);
          if (expired(reply)) { return; }
          if (reply.ok) {
            showSecret(reply.body);
            say("Add the key to your authenticator app, then type the code it shows.");
            return;
          }
          if (errorOf(reply) === "mfa_already_enabled") { mfaOn = true; renderMfa(); }
          if (reply.status === 429) { say(lockedOut(reply), true); return; }
          say("Could not set up two-step verification: " + describe(reply), true);
        });
    });

    onSubmit("mfa-confirm-form", function () {
      mfaCall("POST", "/auth/mfa/totp/confirm", { code: value("mfa-confirm-code").replace(/\s+/g, "") })
        .then(function (reply) {
          clear(["mfa-confirm-code"]);
          if (expired(reply)) { return; }
          if (reply.ok) {
            endEnrolment();
            mfaOn = true;
            showCodes(reply.body.recovery_codes);
            if (mfaEnrolling) {
              // Its work done, the enrol token goes; a real login (password, then a code)
              // opens the session.
              dropMfaToken();
              $("mfa-enrol").hidden = true;
              say("Two-step verification is on. Save your recovery codes, then log in again with your password and a code.");
              return;
            }
            renderMfa();
            say("Two-step verification is on. Save your recovery codes.");
            return;
          }
          if (errorOf(reply) === "mfa_not_enrolling") { endEnrolment(); }
          if (errorOf(reply) === "mfa_already_enabled") { endEnrolment(); mfaOn = true; renderMfa(); }
          // A wrong code counts toward the lock-out here too.
          if (reply.status === 429) { say(lockedOut(reply), true); return; }
          say(errorOf(reply) === "invalid_code"
            ? "That code is not right: check the time on your phone, then type the newest code."
            : "Could not turn on two-step verification: " + describe(reply), true);
        });
    });

    $("mfa-codes-done").addEventListener("click", function () {
      hideCodes();
      say("");
      show(); // signed in: the settings; after an MFA=required enrolment: the login
    });

    onSubmit("mfa-renew-form", function () {
      var body = secondFactor("mfa-renew-code");
      body.password = value("mfa-renew-password");
      authorised("POST", "/auth/mfa/recovery-codes", body).then(function (reply) {
        clear(["mfa-renew-password", "mfa-renew-code"]);
        if (reply.ok) {
          showCodes(reply.body.recovery_codes);
          say("New recovery codes: the old ones no longer work. Save these.");
          return;
        }
        if (errorOf(reply) === "mfa_not_enabled") { mfaOn = false; renderMfa(); }
        if (reply.status === 429) { say(lockedOut(reply), true); return; }
        say("Could not renew the recovery codes: " + describe(reply), true);
      });
    });

    onSubmit("mfa-disable-form", function () {
      var body = secondFactor("mfa-disable-code");
      body.password = value("mfa-disable-password");
      authorised("DELETE", "/auth/mfa", body).then(function (reply) {
        clear(["mfa-disable-password", "mfa-disable-code"]);
        if (reply.status === 204) {
          mfaOn = false;
          hideCodes();
          renderMfa();
          say("Two-step verification is off; your other sessions were ended.");
          return loadSessions();
        }
        if (errorOf(reply) === "mfa_not_enabled") { mfaOn = false; renderMfa(); }
        if (reply.status === 429) { say(lockedOut(reply), true); return; }
        say("Could not turn off two-step verification: " + describe(reply), true);
      });
    });
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
          if (!reply.ok) {
            say(reply.status === 429 ? lockedOut(reply) : "Login failed: " + describe(reply), true);
            return;
          }
          // The right password of an account with a second factor: no tokens yet, an
          // mfa_token for the next step (POST /auth/mfa/verify).
          if (reply.body.mfa_required) {
            holdMfaToken(reply.body, false);
            say("Enter the code from your authenticator app (or a recovery code).");
            return show();
          }
          // MFA=required and no second factor yet: enrol first (the mfa_token opens only
          // enroll and confirm), then log in again.
          if (reply.body.mfa_enrollment_required) {
            holdMfaToken(reply.body, true);
            mfaOn = false;
            say("Set up two-step verification to continue.");
            return show();
          }
          mfaOn = null; // from this session's amr
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
    bindMfa();
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
