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
