'use strict';
// The bench peer: the stack a team would pick instead of ywmsgd for the product's hot path, written the way a
// competent team would write it — Fastify 5, node-postgres 8, ioredis 5, one Node process — and serving
// GET /v1/conversations/:id/messages?limit=50 with the same SQL, answer shape and auth as ywmsgd
// (docs/api.md). bench/run.sh starts it beside ywmsgd on the same topology and data (docs/benchmarks.md).
//
// Environment:
//   PEER_DATABASE_URL  the node it reads from (the primary, or a replica); required
//   PEER_READ_URLS     optional, comma-separated replicas: reads round-robin over them, one pool each
//   PEER_REDIS_URL     optional: cache the page's JSON in Redis (GET first; on a miss query and SET … EX 60)
//   PEER_REDIS_PREFIX  key prefix in Redis (default "peer:"), so its keys never mix with ywmsgd's
//   PEER_CACHE_TTL_S   cache entry lifetime (default 60)
//   PEER_POOL_MAX      connections per pool (default 16)
//   PEER_PORT          HTTP port on 127.0.0.1 (default 3000)
const crypto = require('node:crypto');
const Fastify = require('fastify');
const pg = require('pg');
const Redis = require('ioredis');

const env = process.env;
const port = Number(env.PEER_PORT || 3000);
const poolMax = Number(env.PEER_POOL_MAX || 16);
const cacheTtl = Number(env.PEER_CACHE_TTL_S || 60);
const redisPrefix = env.PEER_REDIS_PREFIX || 'peer:';
if (!env.PEER_DATABASE_URL) {
  console.error('PEER_DATABASE_URL is required');
  process.exit(78);
}

// timestamptz as text (the session is UTC), rendered as the API's RFC 3339 with microseconds — a JS Date would
// drop the microseconds docs/api.md promises.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/.exec(v);
  if (!m) return new Date(v).toISOString();
  return `${m[1]}T${m[2]}.${(m[3] || '').padEnd(6, '0')}Z`;
});

const makePool = (connectionString) => {
  const pool = new pg.Pool({ connectionString, max: poolMax, options: '-c TimeZone=UTC' });
  pool.on('error', (err) => console.error('pg pool error:', err.message));
  return pool;
};
const primary = makePool(env.PEER_DATABASE_URL);
const replicas = (env.PEER_READ_URLS || '').split(',').map((s) => s.trim()).filter(Boolean).map(makePool);
let next = 0;
const readPool = () => (replicas.length ? replicas[next++ % replicas.length] : primary);

const redis = env.PEER_REDIS_URL ? new Redis(env.PEER_REDIS_URL, { lazyConnect: false }) : null;
if (redis) redis.on('error', (err) => console.error('redis error:', err.message));

// The hot path: the plain first-page query, one named prepared statement (parsed and planned once per connection).
const LATEST_SQL =
  'SELECT id, conversation_id, direction, channel, content, delivery_status, created_at' +
  ' FROM conversation_message' +
  ' WHERE conversation_id = $1 AND tenant_id = $2 AND deleted_at IS NULL' +
  ' ORDER BY created_at DESC, id DESC LIMIT $3';
const AUTH_SQL =
  "SELECT tenant_id, blocked, block_reason FROM api_keys WHERE key_hash = decode($1, 'hex') AND revoked_at IS NULL";
const EXISTS_SQL = 'SELECT 1 FROM conversations WHERE id = $1 AND tenant_id = $2';

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const errorBody = (code, message) => ({ error: { code, message } });

// API keys: SHA-256 (hex) looked up by key_hash, the answer kept in-process for a minute (unknown keys for 5 s).
// The Map holds the promise, so concurrent first requests with one key share one lookup.
const keyCache = new Map();
function authenticate(key) {
  const hash = crypto.createHash('sha256').update(key).digest('hex');
  const now = Date.now();
  const hit = keyCache.get(hash);
  if (hit && hit.expires > now) return hit.principal;
  const principal = readPool()
    .query(AUTH_SQL, [hash])
    .then((r) => {
      const p = r.rows.length === 1 ? r.rows[0] : null;
      keyCache.set(hash, { principal: Promise.resolve(p), expires: Date.now() + (p ? 60000 : 5000) });
      return p;
    })
    .catch((err) => {
      keyCache.delete(hash);
      throw err;
    });
  if (keyCache.size >= 10000) keyCache.clear();
  keyCache.set(hash, { principal, expires: now + 60000 });
  return principal;
}

function presentedKey(req) {
  const k = req.headers['x-api-key'];
  if (k) return String(k);
  const a = req.headers.authorization;
  if (a && a.startsWith('Bearer ')) return a.slice(7);
  return '';
}

const app = Fastify({ logger: false });

// The cache's counters, for the bench's hit-rate note (a team would export these as metrics).
const stats = { cache_hits: 0, cache_misses: 0 };
app.get('/health', async () => ({ status: 'ok' }));
app.get('/stats', async () => stats);

app.get('/v1/conversations/:id/messages', async (req, reply) => {
  const key = presentedKey(req);
  if (!key) return reply.code(401).send(errorBody('unauthenticated', 'an API key is required (X-API-Key)'));
  const principal = await authenticate(key);
  if (!principal) return reply.code(401).send(errorBody('unauthenticated', 'invalid API key'));
  if (principal.blocked) {
    return reply.code(403).send(errorBody('forbidden', 'API key blocked' + (principal.block_reason ? ': ' + principal.block_reason : '')));
  }
  const tenantId = principal.tenant_id;
  const { id } = req.params;
  if (!UUID_RE.test(id)) return reply.code(400).send(errorBody('invalid_argument', 'conversation id is not a valid UUID'));
  if (req.query.before !== undefined) {
    return reply.code(400).send(errorBody('invalid_argument', 'the bench peer serves the first page only'));
  }
  const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    return reply.code(400).send(errorBody('invalid_argument', 'limit must be an integer from 1 to 200'));
  }

  const cacheKey = `${redisPrefix}m:${tenantId}:${id}:${limit}`;
  if (redis) {
    try {
      const cached = await redis.get(cacheKey);
      if (cached !== null) {
        stats.cache_hits++;
        return reply.header('x-cache', 'HIT').type('application/json').send(cached);
      }
      stats.cache_misses++;
    } catch (err) {
      // Redis down: answer from the database, like ywmsgd's BYPASS.
    }
  }

  const pool = readPool();
  const { rows } = await pool.query({ name: 'latest50', text: LATEST_SQL, values: [id, tenantId, limit] });
  if (rows.length === 0) {
    const exists = await pool.query(EXISTS_SQL, [id, tenantId]);
    if (exists.rows.length === 0) return reply.code(404).send(errorBody('not_found', 'no such conversation'));
  }
  let nextCursor = null;
  if (rows.length === limit) {
    const last = rows[rows.length - 1];
    nextCursor = Buffer.from(`${last.created_at}|${last.id}`).toString('base64url');
  }
  const body = JSON.stringify({ data: rows, next_cursor: nextCursor });
  if (redis) {
    try {
      await redis.set(cacheKey, body, 'EX', cacheTtl);
    } catch (err) {
      // not cached this time
    }
    reply.header('x-cache', 'MISS');
  }
  return reply.type('application/json').send(body);
});

app.setErrorHandler((err, req, reply) => {
  console.error(err.message);
  reply.code(500).send(errorBody('internal', 'internal error'));
});

const stop = async () => {
  try {
    await app.close();
    await Promise.all([primary.end(), ...replicas.map((p) => p.end())]);
    if (redis) redis.disconnect();
  } finally {
    process.exit(0);
  }
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

app.listen({ host: '127.0.0.1', port }).catch((err) => {
  console.error(err.message);
  process.exit(1);
});
