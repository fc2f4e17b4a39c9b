// The server list: Kiln Remote's own page, the only one allowed to call its commands.
"use strict";

const invoke = window.__TAURI__.core.invoke;
const $ = (css) => document.querySelector(css);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function say(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

// Runs a command with the page marked busy; its error is shown, not thrown.
async function run(button, command, args, busy = "Connecting…") {
  say("");
  document.body.classList.add("busy");
  const label = button && button.textContent;
  if (button) { button.disabled = true; button.textContent = busy; }
  try {
    return await invoke(command, args);
  } catch (e) {
    say(String(e));
    return undefined;
  } finally {
    document.body.classList.remove("busy");
    if (button) { button.disabled = false; button.textContent = label; }
  }
}

function ago(ms) {
  if (!ms) return "never opened";
  const minutes = Math.round((Date.now() - ms) / 60000);
  if (minutes < 1) return "opened just now";
  if (minutes < 60) return `opened ${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `opened ${hours} h ago`;
  return `opened ${new Date(ms).toLocaleDateString()}`;
}

async function refresh() {
  const listing = await invoke("listing");
  $("#warning").textContent = listing.warning || "";
  $("#warning").hidden = !listing.warning;
  const list = $("#servers");
  list.replaceChildren(...listing.servers.map((s) => {
    const open = el("button", { className: "primary", textContent: "Open" });
    open.dataset.url = s.url;
    open.onclick = () => run(open, "connect", { address: s.url, token: null, name: null, remember: true });
    const forget = el("button", { textContent: "Forget" });
    forget.onclick = async () => {
      if (!confirm(`Forget ${s.name} (${s.url})${s.has_token ? " and its token" : ""}?`)) return;
      await run(null, "forget", { url: s.url });
      refresh();
    };
    return el("li", {},
      el("div", { className: "grow" },
        el("div", { className: "name", textContent: s.name }),
        el("div", { className: "url muted", textContent: s.url }),
        el("div", { className: "muted", textContent: `${s.has_token ? "token saved" : "no token"} · ${ago(s.last_used)}` })),
      forget, open);
  }));
  $("#no-servers").hidden = listing.servers.length > 0;
  $("#recent").replaceChildren(...listing.projects.map((p) => el("option", { value: p })));
  const local = $("#local");
  local.hidden = !listing.local;
  $("#stop-local").hidden = !listing.local;
  if (listing.local) local.textContent = `Serving ${listing.local[0]} at ${listing.local[1]}`;
  const following = $("#following");
  following.hidden = !listing.following;
  if (listing.following) following.textContent = `following ${listing.following}`;
}

$("#add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  await run($("#connect"), "connect", {
    address: form.address.value,
    token: form.token.value || null,
    name: form.label.value || null,
    remember: form.remember.checked,
  });
});

$("#serve").addEventListener("submit", async (event) => {
  event.preventDefault();
  await run($("#start-local"), "serve_local", { path: event.target.path.value }, "Starting kiln serve…");
});

$("#stop-local").addEventListener("click", async () => {
  await run(null, "stop_local");
  refresh();
});

refresh().catch((e) => say(String(e)));
