// The official JS client's own hub-protocol codecs, for byte-level tests of ours.
// stdin: {"write": [{"protocol", "message"}], "parse": [{"protocol", "data"}]} (data base64)
// stdout: {"written": [base64], "parsed": [[message, ...]]}; Dates and Uint8Arrays are tagged.
const path = require("node:path");
const modules = path.join(__dirname, "..", "js", "node_modules");
const signalr = require(path.join(modules, "@microsoft/signalr"));
const msgpack = require(path.join(modules, "@microsoft/signalr-protocol-msgpack"));

const protocols = {
  json: new signalr.JsonHubProtocol(),
  messagepack: new msgpack.MessagePackHubProtocol(),
};

function tag(value) {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(tag);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tag(v)]));
  }
  return value;
}

function untag(value) {
  if (Array.isArray(value)) return value.map(untag);
  if (value && typeof value === "object") {
    if ("$date" in value) return new Date(value.$date);
    if ("$bytes" in value) return new Uint8Array(Buffer.from(value.$bytes, "base64"));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, untag(v)]));
  }
  return value;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const written = (request.write || []).map(({ protocol, message }) => {
    const out = protocols[protocol].writeMessage(untag(message));
    return Buffer.from(typeof out === "string" ? Buffer.from(out, "utf8") : out).toString("base64");
  });
  const parsed = (request.parse || []).map(({ protocol, data }) => {
    const bytes = Buffer.from(data, "base64");
    const input = protocol === "json" ? bytes.toString("utf8") : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    return tag(protocols[protocol].parseMessages(input, signalr.NullLogger.instance));
  });
  process.stdout.write(JSON.stringify({ written, parsed }));
});
