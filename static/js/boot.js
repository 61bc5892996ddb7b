// Runs before the first paint (a classic script, not a module): apply the saved theme so a dark
// theme never flashes white. Everything else starts in main.js.
(function () {
  try {
    var theme = localStorage.getItem("inbox.theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) {
    /* storage disabled: follow the system */
  }
})();
