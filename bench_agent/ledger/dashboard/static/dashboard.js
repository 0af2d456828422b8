// Live station board: rows replaced from server-sent events; ages counted locally.
(function () {
  "use strict";
  var announce = document.getElementById("announce");
  var liveState = document.getElementById("live-state");

  function ages() {
    var now = Date.now();
    document.querySelectorAll("time[data-age]").forEach(function (t) {
      var seconds = Math.max(0, Math.round((now - Date.parse(t.getAttribute("datetime"))) / 1000));
      var text = seconds < 120 ? seconds + " s" : Math.round(seconds / 60) + " min";
      var span = t.nextElementSibling;
      if (!span || !span.classList.contains("age")) {
        span = document.createElement("small");
        span.className = "age";
        t.after(span);
      }
      span.textContent = " (" + text + ")";
    });
  }

  function replace(id, html) {
    var old = document.getElementById(id);
    var holder = document.createElement(old && old.tagName === "TR" ? "tbody" : "div");
    holder.innerHTML = html.trim();
    var fresh = holder.firstElementChild;
    if (!fresh) { return; }
    if (old) {
      var before = old.getAttribute("data-status");
      var after = fresh.getAttribute("data-status");
      // Keep keyboard focus where it was when the row holding it is replaced.
      var focused = old.contains(document.activeElement);
      old.replaceWith(fresh);
      if (focused) { fresh.setAttribute("tabindex", "-1"); fresh.focus(); }
      if (before !== after && (after === "offline" || after === "stuck") && announce) {
        announce.textContent = fresh.querySelector("th").textContent + ": " + fresh.querySelector(".badge").textContent;
      }
      if (old.getAttribute("data-help") !== "called" && fresh.getAttribute("data-help") === "called") {
        helpCalled(fresh);
      }
    } else if (fresh.tagName === "TR") {
      document.querySelector("#board tbody").appendChild(fresh);
    }
  }

  // A technician asks for the supervisor: said for screen readers, and three beeps.
  function helpCalled(row) {
    var badge = row.querySelector(".badge-help");
    if (announce && badge) {
      announce.textContent = row.querySelector("th").textContent + ": " + badge.textContent;
    }
    document.body.setAttribute("data-help-sounds", String(Number(document.body.getAttribute("data-help-sounds") || 0) + 1));
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      var audio = new Context();
      [0, 0.35, 0.7].forEach(function (at) {
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.value = 0.3;
        tone.connect(gain);
        gain.connect(audio.destination);
        tone.start(audio.currentTime + at);
        tone.stop(audio.currentTime + at + 0.2);
      });
    } catch (e) { /* no sound device: the badge and the announcement remain */ }
  }

  function state(on) {
    if (liveState) { liveState.textContent = liveState.getAttribute(on ? "data-on" : "data-off"); }
    document.body.setAttribute("data-live", on ? "on" : "off");
  }

  function connect() {
    var source = new EventSource("/dashboard/events?lang=" + encodeURIComponent(document.body.getAttribute("data-lang")));
    source.addEventListener("open", function () {
      state(true);
      document.body.setAttribute("data-streams", String(Number(document.body.getAttribute("data-streams") || 0) + 1));
    });
    source.addEventListener("error", function () { state(false); });
    source.addEventListener("station", function (e) { var d = JSON.parse(e.data); replace(d.id, d.html); ages(); });
    source.addEventListener("stats", function (e) { replace("stats", JSON.parse(e.data).html); });
    source.addEventListener("summary", function (e) { replace("summary", JSON.parse(e.data).html); });
    // The server ends each stream after a while (so it can always shut down): reopen at once.
    source.addEventListener("bye", function () { source.close(); connect(); });
  }

  if (window.EventSource && document.getElementById("board")) { connect(); }
  ages();
  setInterval(ages, 1000);
})();
