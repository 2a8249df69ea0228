// With JavaScript, the waiting page long-polls its login's status instead of reloading every second.
(function () {
  "use strict";
  var waiting = document.getElementById("waiting");
  if (!waiting || !window.fetch) { return; }
  var url = waiting.getAttribute("data-status");
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok || answer.status === 429 ? answer.json() : { status: "error" }; })
      .then(function (body) {
        if (body.status === "pending") { poll(); }
        else if (body.status === "busy") { setTimeout(poll, 2000); }
        else if (body.status === "starting") { setTimeout(function () { window.location.reload(); }, 1000); }
        else { window.location.reload(); }
      })
      .catch(function () { setTimeout(function () { window.location.reload(); }, 2000); });
  }
  poll();
})();
