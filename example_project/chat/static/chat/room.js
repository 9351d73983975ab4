// The room page: plain JavaScript and the official @microsoft/signalr client (window.signalR).
// User text only ever goes into the page through textContent, never innerHTML.
"use strict";

(() => {
  const room = JSON.parse(document.getElementById("room-name").textContent);
  const byId = (id) => document.getElementById(id);
  const messages = byId("messages");
  const members = byId("members");
  const status = byId("status");
  const error = byId("error");
  const messageForm = byId("message-form");
  const privateForm = byId("private-form");

  const transportName = byId("transport");

  // ?transport=WebSockets|ServerSentEvents|LongPolling makes the client use that transport only;
  // without it (or with another value) the client takes the first the server offers that works.
  const TRANSPORTS = ["WebSockets", "ServerSentEvents", "LongPolling"];
  const requested = new URLSearchParams(window.location.search).get("transport");
  const forced = TRANSPORTS.includes(requested) ? requested : null;

  // The client's log: warnings and errors go to the console, as configureLogging(Warning) would
  // do, and "Selecting transport 'X'." (logged for each transport it tries, the one that
  // connects last) tells which transport a negotiated connection uses.
  let selected = forced;
  const logger = {
    log(level, message) {
      const picked = /^Selecting transport '(\w+)'\.$/.exec(message);
      if (picked) selected = picked[1];
      if (level >= signalR.LogLevel.Error) console.error(`SignalR: ${message}`);
      else if (level === signalR.LogLevel.Warning) console.warn(`SignalR: ${message}`);
    },
  };

  const connection = new signalR.HubConnectionBuilder()
    // The session cookie authenticates the connection.
    .withUrl("/hubs/chat", forced ? { transport: signalR.HttpTransportType[forced] } : {})
    .withAutomaticReconnect()
    .configureLogging(logger)
    .build();

  function showTransport() {
    transportName.textContent = selected || "unknown";
    transportName.dataset.transport = selected || "";
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
    const usable = state === "connected";
    for (const form of [messageForm, privateForm]) {
      for (const control of form.elements) control.disabled = !usable;
    }
  }

  function showError(err) {
    // Hub errors read "An unexpected error occurred invoking 'X' on the server. HubException: text".
    const text = String(err && err.message ? err.message : err);
    error.textContent = text.includes("HubException: ") ? text.split("HubException: ").pop() : text;
    error.hidden = false;
  }

  function addMessage(className, who, text, timestamp) {
    const item = document.createElement("li");
    item.className = className;
    const time = document.createElement("time");
    time.dateTime = timestamp;
    time.textContent = new Date(timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const author = document.createElement("strong");
    author.textContent = who;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(time, author, body);
    messages.append(item);
    messages.scrollTop = messages.scrollHeight;
  }

  function showMembers(names) {
    members.replaceChildren(
      ...names.map((name) => {
        const item = document.createElement("li");
        item.dataset.username = name;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = name;
        button.title = `Send ${name} a private message`;
        button.addEventListener("click", () => {
          byId("private-to").value = name;
          byId("private-text").focus();
        });
        item.append(button);
        return item;
      }),
    );
  }

  connection.on("ReceiveMessage", (message) => {
    if (message.room === room) addMessage("message", message.user, message.text, message.timestamp);
  });

  connection.on("ReceivePrivateMessage", (message) => {
    addMessage("private", `${message.sender} → ${message.recipient} (private)`, message.text, message.timestamp);
  });

  connection.on("MembersChanged", (changedRoom, names) => {
    if (changedRoom === room) showMembers(names);
  });

  async function join() {
    showMembers(await connection.invoke("JoinRoom", room));
    showTransport();
    setStatus("connected", "Connected");
  }

  // A reconnect is a new connection: it is in no group yet, so join the room again.
  connection.onreconnecting(() => setStatus("reconnecting", "Reconnecting…"));
  connection.onreconnected(() => join().catch(showError));
  connection.onclose(() => setStatus("disconnected", "Disconnected: reload the page"));

  async function start() {
    try {
      await connection.start();
      await join();
    } catch (err) {
      setStatus("disconnected", "Cannot connect, retrying…");
      showError(err);
      setTimeout(start, 5000);
    }
  }

  async function submit(event, send) {
    event.preventDefault();
    error.hidden = true;
    try {
      await send();
    } catch (err) {
      showError(err);
    }
  }

  messageForm.addEventListener("submit", (event) =>
    submit(event, async () => {
      const input = byId("message-text");
      await connection.invoke("SendMessage", room, input.value);
      input.value = "";
      input.focus();
    }),
  );

  privateForm.addEventListener("submit", (event) =>
    submit(event, async () => {
      const input = byId("private-text");
      await connection.invoke("SendPrivateMessage", byId("private-to").value.trim(), input.value);
      input.value = "";
    }),
  );

  start();
})();
