// Moments in the viewer's own time zone and language: the server writes them in the site's
// zone (readable without JavaScript); here they are rewritten from their ISO time.
(function () {
  "use strict";
  function localise(root) {
    var lang = document.documentElement.lang || undefined;
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      var style = el.getAttribute("data-local") === "long" ? "long" : "short";
      el.textContent = new Intl.DateTimeFormat(lang, { dateStyle: style === "long" ? "long" : "short", timeStyle: "short" }).format(when);
      el.title = Intl.DateTimeFormat().resolvedOptions().timeZone;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
  document.addEventListener("htmx:oobAfterSwap", function (event) { localise(event.target); });
})();

// Click to enlarge: a picture inside <a class="zoom" href="…"> opens in a dialog at a readable
// size (without JavaScript the link opens the picture itself). Escape or the button closes it.
(function () {
  "use strict";
  var dialog;
  function open(link) {
    var source = link.querySelector("img");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "zoom-dialog";
      var form = document.createElement("form");
      form.method = "dialog";
      var close = document.createElement("button");
      close.type = "submit";
      close.className = "secondary";
      close.textContent = document.documentElement.lang === "fr" ? "Fermer" : "Close";
      form.appendChild(close);
      dialog.appendChild(form);
      dialog.appendChild(document.createElement("img"));
      dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
      document.body.appendChild(dialog);
    }
    var img = dialog.querySelector("img");
    img.src = link.getAttribute("href");
    img.alt = source ? source.alt : "";
    // Drawn pictures with labels (the confusion matrix) stay smooth; pixel art is enlarged sharp.
    img.className = source && source.classList.contains("confusion") ? "smooth" : "";
    dialog.showModal();
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.zoom");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || typeof HTMLDialogElement === "undefined") return;
    event.preventDefault();
    open(link);
  });
})();

// Inside an LMS's iframe (an LTI launch), offer to open the page in a tab of its own: the
// browser may block the iframe's cookies, and a small frame is cramped (lti/middleware.py).
(function () {
  var inFrame;
  try { inFrame = window.self !== window.top; } catch (e) { inFrame = true; }
  if (!inFrame) return;
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-lti-new-tab]").forEach(function (el) { el.hidden = false; });
  });
})();
