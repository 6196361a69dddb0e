// keymint console: small niceties on top of pages that work without script.
// "Copy" buttons copy the field they name.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => { field.select(); });
  } else {
    field.select();
    document.execCommand("copy");
    done();
  }
});

// A revealed secret must not come back with the back button: browsers may keep the
// page in memory (back-forward cache) despite `Cache-Control: no-store`. Remove it
// when the page is left, and reload it (to "shown once") if it is restored.
window.addEventListener("pagehide", () => {
  document.querySelectorAll(".reveal").forEach((section) => section.remove());
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted && document.querySelector("[data-reveal]")) window.location.reload();
});
