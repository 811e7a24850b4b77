// The baseline for the ingest benchmark: Express answering 200 to every POST, nothing else.
import express from 'express';

const app = express();
app.post('/webhooks/whatsapp', express.raw({ type: () => true, limit: 1024 * 1024 }), (_req, res) => {
  res.status(200).type('text/plain').send('EVENT_RECEIVED');
});
const server = app.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
