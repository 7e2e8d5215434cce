// A sign-in link (`postinterview inbox-link USER`) carries a one-time code after '#', where it
// never reaches a server or its logs: hand it to the sign-in form, once, and drop it from the
// address bar and the history.
document.addEventListener("DOMContentLoaded", () => {
  const code = new URLSearchParams(window.location.hash.slice(1)).get("code");
  if (!code) return;
  window.history.replaceState(null, "", window.location.pathname);
  const form = document.getElementById("sign-in");
  form.elements.token.value = code;
  form.submit();
});
