// Benchmark driver for the npm package `wechatpay-axios-plugin` (TheNorthMemory), against
// wxrefund-sim.
//
//   node axios_bench.mjs --config cfg.json --orders orders.json --order-prefix PEERJS \
//       --platform-cert sim/keys/platform_cert.pem --calls N
//
// The package is resolved from this file's folder: scripts/bench-peers.sh copies the file
// next to the node_modules it installs (never into the repository).
//
// --config: the simulator's client configuration (its --config-out file).
// --orders: the simulator's --orders file. The driver uses the domestic orders whose
//     out_trade_no starts with --order-prefix, in file order, for 40 refunds of 100 fen each
//     (fewer when an order's total is under 4000 fen); it needs WARMUP + N refunds' worth.
//     `scripts/bench-peers.sh --orders N` prints suitable orders.
// --platform-cert: the simulator's platform certificate (PEM). The plugin verifies answers
//     only with keys given to its constructor (`certs: {serial: key}`, mandatory); it has no
//     run-time certificate download (its CLI `wxpay crt` downloads them once, to files), so
//     it is given the certificate as a file, as in production.
//
// Measures, as process CPU time (process.cpuUsage(): user + system) and wall time:
//   startup  SDK import + client construction (merchant key, platform certificate)
//   create   N refund applications (POST /v3/refund/domestic/refunds), after WARMUP unmeasured ones
//   query    N queries (GET /v3/refund/domestic/refunds/{out_refund_no}) of the refunds created
// Every call goes through the plugin's own request signing and its own answer signature
// check (on for every 2xx answer: a failure throws EV3_RES_HEADER_SIGNATURE_DIGEST), and
// must answer HTTP 200 with a refund_id; any failure ends the driver with a non-zero status.
//
// stdout: one JSON line per figure; notes go to stderr.

import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { parseArgs } from 'node:util';

const DRIVER = 'wechatpay-axios-plugin';
const WARMUP = 5;
const REFUNDS_PER_ORDER = 40;
const REFUND_FEN = 100;

class Failure extends Error {}

function note(message) {
  process.stderr.write(`${DRIVER}: ${message}\n`);
}

// The same spelling as the Python driver's json.dumps: `{"a": 1, "b": 2}`.
function emit(figures) {
  const fields = Object.entries({ driver: DRIVER, ...figures })
    .map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  process.stdout.write(`{${fields.join(', ')}}\n`);
}

const round1 = (x) => Math.round(x * 10) / 10;
const cpuMicros = () => { const { user, system } = process.cpuUsage(); return user + system; };
const wallMicros = () => performance.now() * 1e3;

function refundSlots(ordersPath, prefix, needed) {
  const orders = (JSON.parse(readFileSync(ordersPath, 'utf8')).domestic || [])
    .filter((order) => order.out_trade_no.startsWith(prefix));
  const slots = orders.flatMap((order) => Array(
    Math.min(REFUNDS_PER_ORDER, Math.floor(order.total / REFUND_FEN)),
  ).fill([order.out_trade_no, order.total]));
  if (slots.length < needed) {
    throw new Failure(`${ordersPath} has room for ${slots.length} refunds of ${REFUND_FEN} fen `
      + `on domestic orders starting with '${prefix}'; ${needed} needed `
      + '(scripts/bench-peers.sh --orders CALLS prints enough orders)');
  }
  return slots.slice(0, needed);
}

// The refund in an axios answer, or a Failure unless it is a 200 with a refund_id.
async function checked(what, call) {
  let answer;
  try {
    answer = await call();
  } catch (error) {
    const { response } = error;
    throw new Failure(`${what}: ${error.code || ''} ${error.message}`
      + (response ? ` (HTTP ${response.status}: ${JSON.stringify(response.data)})` : ''));
  }
  if (answer.status !== 200 || !answer.data || !answer.data.refund_id) {
    throw new Failure(`${what}: HTTP ${answer.status}: ${JSON.stringify(answer.data)}`);
  }
  return answer.data;
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      config: { type: 'string' },
      orders: { type: 'string' },
      'order-prefix': { type: 'string', default: 'PEERJS' },
      'platform-cert': { type: 'string' },
      calls: { type: 'string' },
    },
  });
  for (const name of ['config', 'orders', 'platform-cert', 'calls']) {
    if (args[name] === undefined) throw new Failure(`--${name} is required`);
  }
  const calls = Number(args.calls);
  if (!Number.isInteger(calls) || calls < 1) throw new Failure('--calls must be a positive integer');

  const config = JSON.parse(readFileSync(args.config, 'utf8'));
  const baseUrl = config.base_url.replace(/\/+$/, '');
  if (!baseUrl.startsWith('http://127.0.0.1:')) {
    throw new Failure(`base_url ${baseUrl} is not the simulator on 127.0.0.1`);
  }
  const prefix = args['order-prefix'];
  const slots = refundSlots(args.orders, prefix, WARMUP + calls);

  // 1. Start-up: SDK import and client construction.
  let cpu0 = cpuMicros();
  let wall0 = wallMicros();
  const { default: Wechatpay } = await import('wechatpay-axios-plugin');
  const certPem = readFileSync(args['platform-cert']);
  const platformSerial = new X509Certificate(certPem).serialNumber;
  const wxpay = new Wechatpay({
    // The plugin's hard-coded production gateway is its axios `baseURL` default
    // (Decorator.defaults); the constructor config is merged over it, so this points
    // every request at the simulator.
    baseURL: `${baseUrl}/`,
    mchid: config.mchid,
    serial: config.merchant_serial_no,
    privateKey: config.private_key_pem,
    certs: { [platformSerial]: certPem },
  });
  const startupCpu = cpuMicros() - cpu0;
  note(`client ready in ${Math.round((wallMicros() - wall0) / 1e3)} ms wall, `
    + `platform certificate ${platformSerial}`);
  emit({ op: 'startup', cpu_ms: round1(startupCpu / 1e3) });

  // Fresh out_refund_no values on every run: a repeated one would be answered with the
  // existing refund instead of creating one, hiding a rerun against the same simulator
  // (which instead fails loudly once the orders have no room left).
  const run = String(Date.now() % 1e10).padStart(10, '0');
  const refunds = wxpay.v3.refund.domestic.refunds;

  async function create(k) {
    const [outTradeNo, total] = slots[k];
    const outRefundNo = `${prefix}-js-${run}-${String(k).padStart(6, '0')}`;
    await checked(`create ${outRefundNo}`, () => refunds.post({
      out_trade_no: outTradeNo,
      out_refund_no: outRefundNo,
      amount: { refund: REFUND_FEN, total, currency: 'CNY' },
    }));
    return outRefundNo;
  }

  async function query(outRefundNo) {
    const refund = await checked(
      `query ${outRefundNo}`,
      () => refunds._out_refund_no_.get({ out_refund_no: outRefundNo }),
    );
    if (refund.out_refund_no !== outRefundNo) {
      throw new Failure(`query ${outRefundNo}: answer is about ${refund.out_refund_no}`);
    }
  }

  // 2. Warm-up, not measured.
  for (let k = 0; k < WARMUP; k += 1) await query(await create(k));

  // 3. N creates.
  const created = [];
  cpu0 = cpuMicros();
  wall0 = wallMicros();
  for (let i = 0; i < calls; i += 1) created.push(await create(WARMUP + i));
  emit({
    op: 'create',
    calls,
    cpu_us_per_call: round1((cpuMicros() - cpu0) / calls),
    wall_us_per_call: round1((wallMicros() - wall0) / calls),
  });

  // 4. N queries of the refunds created in step 3.
  cpu0 = cpuMicros();
  wall0 = wallMicros();
  for (const outRefundNo of created) await query(outRefundNo);
  emit({
    op: 'query',
    calls,
    cpu_us_per_call: round1((cpuMicros() - cpu0) / calls),
    wall_us_per_call: round1((wallMicros() - wall0) / calls),
  });
}

main().catch((error) => {
  note(error instanceof Failure ? error.message : (error.stack || String(error)));
  process.exitCode = 1;
});
