/**
 * The ceiling: a bare node:https server on the same TLS settings that reads
 * the body and answers 200 {"success":true} without doing anything else.
 * Whatever Palisade achieves is measured against this, in the same run.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../src/tls/certificate.ts';

const { cert, key } = await generateSelfSigned();
const server = https.createServer({ cert, key, minVersion: 'TLSv1.2' }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"success":true}');
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
