// A keep-alive client that keeps its connections longer than the server: an http.Agent with
// no idle timeout. It sends COUNT requests to 127.0.0.1:PORT, each one right after the server
// closed the previous connection idle (as a load balancer with steady traffic would), and
// prints {"done":true,"statuses":[...]} at the end.
const http = require('node:http');

const port = Number(process.env.PORT);
const count = Number(process.env.COUNT ?? 4);
const agent = new http.Agent({ keepAlive: true });

function get() {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/work', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, socket: req.socket }));
    });
    req.on('error', (error) => resolve({ status: error.code }));
  });
}

(async () => {
  // The agent unrefs its idle sockets: something must keep the process alive while it waits.
  const alive = setInterval(() => {}, 1000);
  const statuses = [];
  for (let i = 0; i < count; i++) {
    const { status, socket } = await get();
    statuses.push(status);
    if (i < count - 1 && socket !== undefined && socket !== null) {
      if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  agent.destroy();
  clearInterval(alive);
  console.log(JSON.stringify({ done: true, statuses }));
})();
