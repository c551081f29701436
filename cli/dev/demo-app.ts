// The demo's application: a tiny HTTP service that answers with the host it runs on. It stands in
// for the JMS adapter of the seed deployment, run by the built-in `process` agent.
import { createServer } from 'node:http';

const port = Number(process.env.DEMO_PORT ?? 0);
// The process agent passes HA_NODE (the host the set runs on); DEMO_NODE is the fallback.
const node = process.env.HA_NODE ?? process.env.DEMO_NODE ?? 'unknown';
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${node}\n`);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
