// The dashboard's only script (no build step, nothing from elsewhere): the KST and Beijing clocks,
// the deadline countdowns, the sign-in link's #token= fragment, the copy button, one submit per form.
(function () {
  "use strict";
  var body = document.body;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function wall(date, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
    }).formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute + ":" + parts.second;
  }

  function left(deadline, now) {
    var s = Math.floor((deadline - now) / 1000);
    if (s < 0) { return body.getAttribute("data-passed") || "-"; }
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var clock = pad(h) + ":" + pad(m) + ":" + pad(r);
    return d ? d + (body.getAttribute("data-days") || "d") + " " + clock : clock;
  }

  function tick() {
    var now = new Date();
    document.querySelectorAll("time[data-zone]").forEach(function (el) {
      el.textContent = wall(now, el.getAttribute("data-zone"));
      el.setAttribute("datetime", now.toISOString());
    });
    document.querySelectorAll("[data-testid=countdown][data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.getAttribute("data-deadline"));
      if (!isNaN(deadline)) {
        el.textContent = left(deadline, now);
        el.classList.toggle("urgent", deadline - now < 24 * 3600 * 1000);
      }
    });
  }

  // A sign-in link carries the token in the fragment (never sent to a server): fill, forget, submit.
  function signInFromFragment() {
    var form = document.getElementById("sign-in-form");
    var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash || "");
    if (!form || !match) { return; }
    history.replaceState(null, "", window.location.pathname + window.location.search);
    form.querySelector("input[name=token]").value = decodeURIComponent(match[1]);
    form.submit();
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        var done = button.parentNode.querySelector(".copied");
        function shown() { if (done) { done.textContent = body.getAttribute("data-copied") || "ok"; } }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(source.value).then(shown, function () { source.select(); document.execCommand("copy"); shown(); });
        } else {
          source.select(); document.execCommand("copy"); shown();
        }
      });
    });
  }

  // A second click while the first submit is on its way does nothing here (and the form's
  // Idempotency-Key makes it the same submission at the server even if it were sent).
  function oneSubmitPerForm() {
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-sent") === "1") { event.preventDefault(); return; }
        form.setAttribute("data-sent", "1");
        // No file chosen: send no file part at all (a browser sends an empty one, which evidence
        // rightly refuses as an empty file), so a meta-only upload of a structured kind works.
        form.querySelectorAll("input[type=file]").forEach(function (input) {
          if (!input.files || !input.files.length) { input.disabled = true; }
        });
        form.setAttribute("aria-busy", "true");
      });
    });
  }

  // Back to a page kept in the back/forward cache: its forms may be sent again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.removeAttribute("aria-busy");
      form.querySelectorAll("input[type=file]").forEach(function (input) { input.disabled = false; });
    });
  });

  signInFromFragment();
  copyButtons();
  oneSubmitPerForm();
  tick();
  window.setInterval(tick, 1000);
})();
