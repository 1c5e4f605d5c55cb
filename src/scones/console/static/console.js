// The console's only script: refresh an endpoint's live figures every few seconds.
// Pages work without it; it just saves a reload.
(function () {
  "use strict";
  var box = document.querySelector("[data-live-metrics]");
  if (!box) { return; }
  var url = box.getAttribute("data-live-metrics");
  function show(data) {
    Object.keys(data).forEach(function (key) {
      var cell = box.querySelector('[data-field="' + key + '"]');
      if (!cell) { return; }
      var value = data[key];
      cell.textContent = value === null || value === undefined ? "-" : String(value);
    });
  }
  function tick() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { show(data); } })
      .catch(function () { /* the endpoint may be restarting; try again next tick */ });
  }
  setInterval(tick, 3000);
})();
