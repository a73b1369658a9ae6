// Maths in questions and feedback, rendered by the vendored KaTeX (no CDN): $…$ and $$…$$,
// again after each HTMX swap (a feedback panel arrives that way).
(function () {
  function render(root) {
    if (!window.renderMathInElement) return;
    window.renderMathInElement(root, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "$", right: "$", display: false },
      ],
      ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option", "input"],
      ignoredClasses: ["no-math"],
      throwOnError: false,
    });
  }
  document.addEventListener("DOMContentLoaded", function () { render(document.querySelector("main") || document.body); });
  document.addEventListener("htmx:afterSwap", function (event) { render(event.target); });
})();
