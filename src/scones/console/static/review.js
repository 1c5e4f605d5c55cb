// The reviewer page: label the queue from the keyboard without a page load per label.
// Items come in batches as JSON; the next images are prefetched; each label, skip and undo is
// POSTed in the background, in order (an undo never overtakes the label it undoes).
(function () {
  "use strict";
  var root = document.getElementById("review");
  if (!root) { return; }
  var api = root.getAttribute("data-api");
  var csrf = root.getAttribute("data-csrf");
  var classes = JSON.parse(root.getAttribute("data-classes"));
  var keys = JSON.parse(root.getAttribute("data-keys"));
  var PREFETCH = 4;      // images fetched ahead of the one on screen
  var BATCH = 20;        // items per fetch: small answers, asked for again well before the end
  var queue = [];        // pending items not shown yet
  var current = null;    // the item on screen
  var done = [];         // items acted on in this session, newest last (for undo)
  var handled = {};      // ids acted on in this session: never shown again from a stale batch
  var session = 0;
  var loading = false;
  var chain = Promise.resolve();
  var polling = null;    // the timer that looks for new items while the queue is empty
  var POLL_MS = 3000;
  var $ = function (id) { return document.getElementById(id); };
  var reviewer = $("review-reviewer");
  try { reviewer.value = window.localStorage.getItem("scones-reviewer") || ""; } catch (e) { /* storage off */ }
  reviewer.addEventListener("change", function () {
    try { window.localStorage.setItem("scones-reviewer", reviewer.value); } catch (e) { /* storage off */ }
  });

  function percent(value) { return (value * 100).toFixed(1) + "%"; }

  function showError(message) {
    var box = $("review-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function showCounts(counts) {
    var total = counts.pending + counts.labelled + counts.skipped;
    $("review-progress-text").textContent = counts.pending + " pending · " + counts.labelled + " labelled · " +
      counts.skipped + " skipped";
    $("review-progress").max = Math.max(total, 1);
    $("review-progress").value = counts.labelled + counts.skipped;
    $("review-session").textContent = String(session);
  }

  function showHistory(item) {
    var list = $("review-history");
    list.textContent = "";
    (item ? item.history : []).forEach(function (a) {
      var li = document.createElement("li");
      var what = a.action === "skip" ? "skip" : classes[a.label];
      var text = document.createElement(a.undone ? "del" : "span");
      text.textContent = a.reviewer + ": " + what + " (" + a.at + ")";
      li.appendChild(text);
      list.appendChild(li);
    });
    if (!list.firstChild) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "none yet";
      list.appendChild(none);
    }
  }

  function prefetch() {
    queue.slice(0, PREFETCH).forEach(function (item) {
      if (!item.prefetched) { item.prefetched = new Image(); item.prefetched.src = item.image; }
    });
  }

  function show(item) {
    current = item;
    var image = $("review-image");
    root.setAttribute("data-item-id", item ? item.id : "");
    $("review-done").hidden = !!item || loading;
    image.hidden = !item;
    if (!item) {
      // Nothing to show: look again every few seconds, so new captures reach an open page.
      if (!polling) { polling = setTimeout(function () { polling = null; if (!current) { load(true); } }, POLL_MS); }
      $("review-caption").textContent = loading ? "Loading…" : "Nothing left to review.";
      $("review-guess").textContent = "-";
      $("review-confidence").textContent = "-";
      $("review-meta").textContent = "";
      showHistory(null);
      return;
    }
    image.src = item.image;
    image.alt = "Captured image " + item.id + " (the model says " + item.predicted_class + ")";
    $("review-caption").textContent = item.id;
    $("review-guess").textContent = item.predicted_class;
    $("review-confidence").textContent = percent(item.confidence);
    $("review-meta").textContent = item.reason + " · variant " + item.variant + " · captured " +
      (item.captured_at || "-");
    showHistory(item);
    prefetch();
    if (queue.length < PREFETCH * 2) { load(queue.length === 0); }
  }

  function load(refresh) {
    if (loading) { return; }
    loading = true;
    // The next page after the last item held; from the start (reading new captures) when none is
    // held, which also brings back items skipped by an undo elsewhere. Ids already here are dropped.
    var params = new URLSearchParams({ limit: String(BATCH) });
    if (queue.length) { params.set("after", queue[queue.length - 1].id); }
    else if (refresh) { params.set("refresh", "1"); }
    fetch(api + "/items.json?" + params.toString(), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("The queue could not be loaded (" + r.status + ")"); } return r.json(); })
      .then(function (data) {
        loading = false;
        var held = {};
        queue.forEach(function (item) { held[item.id] = true; });
        data.items.forEach(function (item) {
          if (!handled[item.id] && !held[item.id] && !(current && current.id === item.id)) { queue.push(item); }
        });
        showCounts(data.counts);
        if (!current) { show(queue.shift() || null); } else { prefetch(); }
      })
      .catch(function (e) { loading = false; showError(e.message); if (!current) { show(null); } });
  }

  function post(action, item, extra) {
    var body = { csrf: csrf, id: item.id, reviewer: reviewer.value || null };
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    chain = chain.then(function () {
      return fetch(api + "/" + action, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
      }).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) { throw new Error(data.message || ("HTTP " + r.status)); }
          return data;
        });
      }).then(function (data) {
        item.history = data.item.history;
        if (current && current.id === item.id) { showHistory(item); }
        showCounts(data.counts);
        root.setAttribute("data-saved", String(Number(root.getAttribute("data-saved") || 0) + 1));
      }).catch(function (e) { showError(item.id + ": " + e.message); });
    });
    return chain;
  }

  function act(action, label) {
    if (!current) { return; }
    var item = current;
    showError("");
    handled[item.id] = true;
    done.push(item);
    session += 1;
    post(action, item, action === "label" ? { label: label } : null);
    show(queue.shift() || null);
    $("review-session").textContent = String(session);
  }

  function undo() {
    var item = done.pop();
    if (!item) { showError("Nothing to undo in this session"); return; }
    showError("");
    delete handled[item.id];
    session -= 1;
    post("undo", item);
    if (current) { queue.unshift(current); }
    show(item);
  }

  document.addEventListener("keydown", function (event) {
    if (event.target && /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName)) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
      return;
    }
    var key = event.key.toLowerCase();
    var index = keys.indexOf(key);
    if (index >= 0) { event.preventDefault(); act("label", index); }
    else if (key === "s") { event.preventDefault(); act("skip"); }
    else if (key === "u" || key === "backspace") { event.preventDefault(); undo(); }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".review-class"), function (button) {
    button.addEventListener("click", function () { act("label", Number(button.getAttribute("data-label"))); });
  });
  $("review-skip").addEventListener("click", function () { act("skip"); });
  $("review-undo").addEventListener("click", undo);
  load(false);
})();
