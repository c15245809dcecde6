//! Attempt counts kept in Redis, so a brute force spread over the nodes of a cluster is
//! counted as one. Each reservation is one Lua script: Redis runs it alone, so checking
//! every key and counting against all of them is one atomic step, as under the local
//! table's lock. Times are the Redis server's own clock, the same for every node.
//! Keys are hashed: the names and addresses being guessed at never sit in Redis.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use super::LimitPolicy;

/// ARGV: free, base delay ms, max delay ms, forget-after ms. Returns 0 when taken, else
/// the milliseconds to wait.
const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, base, maxd, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function read(k)
  local v = redis.call('HMGET', k, 'f', 'l')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end
local longest = 0
for _, k in ipairs(KEYS) do
  local f, last = read(k)
  local since = now - last
  if since < forget and f >= free then
    local d = math.min(base * 2 ^ math.min(f - free, 30), maxd)
    if d > since then longest = math.max(longest, d - since) end
  end
end
if longest > 0 then return math.max(1, math.floor(longest)) end
for _, k in ipairs(KEYS) do
  local f, last = read(k)
  if now - last >= forget then f = 0 end
  redis.call('HSET', k, 'f', f + 1, 'l', now)
  redis.call('PEXPIRE', k, forget)
end
return 0
";

const GIVE_BACK: &str = r"
for _, k in ipairs(KEYS) do
  local f = tonumber(redis.call('HGET', k, 'f')) or 0
  if f > 0 then redis.call('HSET', k, 'f', f - 1) end
end
return 0
";

/// One Redis connection (reconnecting by itself) and the scripts, shared by every
/// limiter of the process.
#[derive(Clone)]
pub struct RedisLimits {
    conn: ConnectionManager,
    reserve: std::sync::Arc<Script>,
    give_back: std::sync::Arc<Script>,
}

impl RedisLimits {
    pub fn new(conn: ConnectionManager) -> RedisLimits {
        RedisLimits {
            conn,
            reserve: std::sync::Arc::new(Script::new(RESERVE)),
            give_back: std::sync::Arc::new(Script::new(GIVE_BACK)),
        }
    }

    fn keys(limiter: &str, keys: &[&str]) -> Vec<String> {
        keys.iter()
            .map(|k| {
                let h = Sha256::digest(k.as_bytes());
                format!("vitrine:limits:{limiter}:{}", hex::encode(&h[..16]))
            })
            .collect()
    }

    /// `Ok(None)` when taken, `Ok(Some(wait))` when refused.
    pub async fn reserve(
        &self,
        limiter: &str,
        policy: &LimitPolicy,
        keys: &[&str],
    ) -> redis::RedisResult<Option<Duration>> {
        let mut call = self.reserve.prepare_invoke();
        for k in Self::keys(limiter, keys) {
            call.key(k);
        }
        call.arg(policy.free)
            .arg(policy.base_delay.as_millis() as u64)
            .arg(policy.max_delay.as_millis() as u64)
            .arg(policy.forget_after.as_millis().max(1) as u64);
        let wait_ms: u64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    pub async fn give_back(&self, limiter: &str, keys: &[&str]) -> redis::RedisResult<()> {
        let mut call = self.give_back.prepare_invoke();
        for k in Self::keys(limiter, keys) {
            call.key(k);
        }
        call.invoke_async::<()>(&mut self.conn.clone()).await
    }

    pub async fn clear(&self, limiter: &str, key: &str) -> redis::RedisResult<()> {
        redis::cmd("DEL")
            .arg(Self::keys(limiter, &[key]))
            .query_async::<()>(&mut self.conn.clone())
            .await
    }
}
