/**
 * The lab's mail relay: a minimal SMTP server (RFC 5321: greeting, EHLO/HELO, MAIL, RCPT, DATA ending
 * with a line holding a single dot, RSET, NOOP, QUIT) that accepts every message and appends one JSON
 * line per message (envelope and Subject) to a file. Tests start it in the lab's LAN namespace on
 * the address the origin's postfix relays to (lab/generate.ts postfixMainCf), to see the mail queued
 * on the origin delivered by the target's postfix after the swap.
 *
 *   tsx lab/relay.ts --port 2525 --out FILE [--host 0.0.0.0]
 */
import { isMain } from "./isMain.js";
import { appendFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { parseArgs } from "node:util";

export function startRelay(port: number, out: string, host = "0.0.0.0"): Server {
  const server = createServer((socket) => {
    socket.setEncoding("latin1");
    let buffer = "";
    let inData = false;
    let data = "";
    let from = "";
    let to: string[] = [];
    const say = (line: string): void => {
      socket.write(`${line}\r\n`);
    };
    say("220 lab-relay ESMTP");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf("\r\n"); nl >= 0; nl = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            const subject = /^Subject: (.*)$/im.exec(data)?.[1] ?? "";
            appendFileSync(out, JSON.stringify({ t: new Date().toISOString(), from, to, subject }) + "\n");
            from = "";
            to = [];
            data = "";
            say("250 2.0.0 Ok: queued");
          } else data += (line.startsWith("..") ? line.slice(1) : line) + "\n";
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") say("250 lab-relay");
        else if (verb === "MAIL") {
          from = /<([^>]*)>/.exec(line)?.[1] ?? "";
          say("250 2.1.0 Ok");
        } else if (verb === "RCPT") {
          to.push(/<([^>]*)>/.exec(line)?.[1] ?? "");
          say("250 2.1.5 Ok");
        } else if (verb === "DATA") {
          inData = true;
          say("354 End data with <CR><LF>.<CR><LF>");
        } else if (verb === "RSET" || verb === "NOOP") say("250 2.0.0 Ok");
        else if (verb === "QUIT") {
          say("221 2.0.0 Bye");
          socket.end();
        } else say("502 5.5.2 Error: command not recognized");
      }
    });
    socket.on("error", () => socket.destroy());
  });
  server.listen(port, host);
  return server;
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "2525" },
      out: { type: "string" },
      host: { type: "string", default: "0.0.0.0" },
    },
  });
  if (!values.out) {
    process.stderr.write("usage: tsx lab/relay.ts --port 2525 --out FILE [--host 0.0.0.0]\n");
    process.exit(2);
  }
  const server = startRelay(Number(values.port), values.out, values.host);
  server.on("listening", () =>
    process.stdout.write(`lab relay listening on ${values.host}:${values.port}\n`),
  );
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
