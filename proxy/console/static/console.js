// The console's only script: live refresh of marked regions and copy buttons.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[data-refresh]")) {
    const url = region.getAttribute("data-refresh");
    setInterval(async () => {
      try {
        const resp = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (resp.ok) { region.innerHTML = await resp.text(); }
      } catch (err) { /* the next tick tries again */ }
    }, 2000);
  }
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.getAttribute("data-copy"));
      field.select();
      try { await navigator.clipboard.writeText(field.value); }
      catch (err) { document.execCommand("copy"); }
      button.textContent = "Copied";
    });
  }
});
