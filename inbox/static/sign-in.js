// A sign-in link (`postinterview inbox-link USER`) carries a one-time code after '#', where it
// never reaches a server or its logs. Anybody can make such a link, for their own account, and
// send it to somebody else: so the code is never used to sign in from here. It goes to the
// server once, marked as coming from a link, and the server answers with whose account it
// opens and a button; only that click signs in. The code is dropped from the address bar and
// the history first.
document.addEventListener("DOMContentLoaded", () => {
  const code = new URLSearchParams(window.location.hash.slice(1)).get("code");
  if (!code) return;
  window.history.replaceState(null, "", window.location.pathname);
  const form = document.getElementById("sign-in");
  form.elements.token.value = code;
  form.elements.from_link.value = "1";
  form.submit();
});
