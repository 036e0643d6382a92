// Roadie web chat: one WebSocket, frames as in DESIGN.md; reconnects and keeps the conversation.
(() => {
  const log = document.getElementById("log");
  const typing = document.getElementById("typing");
  const buttons = document.getElementById("buttons");
  const statusEl = document.getElementById("status");
  const input = document.getElementById("input");
  const store = window.localStorage;
  let session = store.getItem("roadie.session");
  if (!session) {
    session = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9_-]/g, "");
    store.setItem("roadie.session", session);
  }
  const history = JSON.parse(store.getItem("roadie.history") || "[]");
  let socket = null, retry = 0, counter = Date.now();
  const outbox = [];
  const unanswered = new Map();  // sent, no answer yet: sent again with the same id after a reconnect

  function escapeText(text) { const d = document.createElement("div"); d.textContent = text; return d.innerHTML; }
  function bubble(kind, html, remember = true) {
    const el = document.createElement("div");
    el.className = "bubble " + kind;
    el.innerHTML = html;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    if (remember) { history.push([kind, html]); store.setItem("roadie.history", JSON.stringify(history.slice(-100))); }
  }
  function showButtons(list) {
    buttons.innerHTML = "";
    for (const b of list || []) {
      const el = document.createElement("button");
      el.type = "button"; el.textContent = b.label;
      el.addEventListener("click", () => { bubble("user", escapeText(b.label)); send({ type: "button", value: b.value }); });
      buttons.appendChild(el);
    }
  }
  function send(frame) {
    frame.session = session; frame.id = String(++counter);
    showButtons([]);
    unanswered.set(frame.id, frame);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame)); else outbox.push(frame);
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/chat`);
    socket.onopen = () => {
      retry = 0; statusEl.textContent = "online"; statusEl.className = "status online";
      outbox.length = 0;
      for (const frame of unanswered.values()) socket.send(JSON.stringify(frame));
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "typing") { typing.hidden = false; return; }
      typing.hidden = true;
      if (frame.type === "reply") {
        if (frame.reply_to !== undefined) {
          if (!unanswered.has(frame.reply_to)) return;  // an answer already shown
          unanswered.delete(frame.reply_to);
        }
        bubble("bot", frame.html || escapeText(frame.text));
        if (frame.image) bubble("bot", `<img alt="chart" src="${encodeURI(frame.image)}" style="max-width:100%">`);
        if (frame.document) {
          const name = frame.document.split("/").pop();
          bubble("bot", `<a href="${encodeURI(frame.document)}" download="${escapeText(name)}">Download ${escapeText(name)}</a>`, false);
        }
        showButtons(frame.buttons);
      } else if (frame.type === "error") {
        bubble("error", escapeText(frame.message), false);
      }
    };
    socket.onclose = () => {
      statusEl.textContent = "reconnecting…"; statusEl.className = "status";
      typing.hidden = true;
      setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
    };
  }
  for (const [kind, html] of history) bubble(kind, html, false);
  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    bubble("user", escapeText(text));
    input.value = "";
    send({ type: "message", text });
  });
  connect();
})();
