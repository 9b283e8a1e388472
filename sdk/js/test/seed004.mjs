// Seed 004's "SDK and Client Libraries" JavaScript snippet, as written; only the
// placeholder URL and key are the live server's. seed.test.mjs runs this file.
import { HeimdallClient } from '@heimdall/sdk';

// Initialize client
const client = new HeimdallClient({
  baseURL: process.env.HEIMDALL_URL,
  apiKey: process.env.HEIMDALL_API_KEY
});

// Get signal detections
const detections = await client.signals.getDetections({
  frequencyRange: [14000000, 15000000],
  timeRange: ['2024-01-15T12:00:00Z', '2024-01-15T18:00:00Z'],
  stationId: 'twente-nl'
});

// Real-time WebSocket connection
const ws = client.websocket.connect();
ws.subscribeSignals({
  stations: ['twente-nl'],
  frequencyRange: [14000000, 15000000]
});

ws.on('signal_detection', (signal) => {
  console.log('Signal detected:', signal);
});

// --- not in the seed: tell the test what happened --------------------------------
console.log('detections page:', JSON.stringify(detections.pagination));
ws.on('subscribed', (info) => console.log('subscribed:', JSON.stringify(info.channels)));
