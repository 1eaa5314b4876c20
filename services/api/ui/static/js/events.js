// One Server-Sent Events stream per tab (fetch-based, so it can send the token header),
// resumed with Last-Event-ID after a drop; pages add and remove listeners.
import { authHeaders } from "./api.js";

const listeners = new Set();
let started = false;

export function startEvents() {
  if (!started) {
    started = true;
    run();
  }
}

export function onJobEvent(listener) {
  listeners.add(listener);
  startEvents();
  return () => listeners.delete(listener);
}

export function clearListeners() {
  listeners.clear();
}

function setLive(on) {
  const el = document.getElementById("live");
  el.textContent = on ? "● live" : "○ reconnecting";
  el.classList.toggle("on", on);
}

async function run() {
  let lastId = null;
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream", ...authHeaders() };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch("/api/v1/events", { headers });
      if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
      setLive(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = null,
            data = null;
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("data: ")) data = line.slice(6);
          }
          if (id) lastId = id;
          if (data) {
            const event = JSON.parse(data);
            for (const listener of [...listeners]) listener(event);
          }
        }
      }
    } catch (_e) {
      // dropped or refused: try again shortly, from the last event seen
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
