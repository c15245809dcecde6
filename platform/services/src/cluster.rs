//! What the nodes of a cluster tell each other, over Redis.
//!
//! Records, artifacts and jobs are shared already (one SurrealDB server, one object
//! store, one queue); what a node keeps in memory is either keyed by content (tile
//! results, datasets, compiled plugins: never stale) or cached only while the database
//! is the process's own (rows, sessions). What remains is the policy index and the
//! instance settings every request is checked against: a grant, a revocation or a
//! settings change made on one node is announced on a Redis channel, and every other
//! node reads them again from the database.
//!
//! Why Redis pub/sub rather than SurrealDB live queries: Redis already carries the queue
//! and the attempt limits, a message reaches every subscriber in about a millisecond
//! whatever runs SurrealDB (one server or a distributed cluster, where live queries
//! have had node-local limits), and a node that loses the channel knows it (the
//! subscription ends) and reads everything again when it is back, so a message missed
//! meanwhile costs nothing.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use vitrine_authz::{Authz, Change};
use vitrine_core::ErrorCode;

use crate::ratelimit::RedisLimits;
use crate::{ApiError, ApiResult};

/// The channel every node publishes to and listens on.
const CHANNEL: &str = "vitrine:changes";

/// One node's link to the others.
pub(crate) struct Cluster {
    client: redis::Client,
    publisher: ConnectionManager,
    /// Names this process on the channel, so it skips its own announcements.
    node: String,
}

impl Cluster {
    pub(crate) async fn connect(url: &str) -> ApiResult<Arc<Cluster>> {
        let unavailable = |e: redis::RedisError| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("cannot reach the cluster's redis at {}: {e}", redact(url)),
            )
        };
        let client = redis::Client::open(url).map_err(unavailable)?;
        let publisher = client.get_connection_manager().await.map_err(unavailable)?;
        Ok(Arc::new(Cluster {
            client,
            publisher,
            node: vitrine_storage::new_uid(),
        }))
    }

    /// Attempt limits every node counts against.
    pub(crate) fn limits(&self) -> RedisLimits {
        RedisLimits::new(self.publisher.clone())
    }

    /// Tells the other nodes; never waits and never fails the change (a node that misses
    /// it reads everything again when its subscription comes back).
    pub(crate) fn announce(&self, change: Change) {
        let mut conn = self.publisher.clone();
        let message = format!("{} {}", self.node, word(change));
        tokio::spawn(async move {
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(&message)
                .query_async(&mut conn)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "cannot announce a change to the other nodes");
            }
        });
    }

    /// Listens for the other nodes' announcements until `authz` is dropped, and wires
    /// this node's own changes to [`Cluster::announce`].
    pub(crate) fn join(self: &Arc<Self>, authz: &Arc<Authz>) {
        let me = Arc::downgrade(self);
        authz.on_change(move |change| {
            if let Some(cluster) = me.upgrade() {
                cluster.announce(change);
            }
        });
        tokio::spawn(listen(self.clone(), Arc::downgrade(authz)));
    }
}

/// Subscribes, reads everything once (what it may have missed before subscribing), then
/// applies each announcement; after a lost connection, waits a second and does it all
/// again.
async fn listen(cluster: Arc<Cluster>, authz: Weak<Authz>) {
    loop {
        match cluster.client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    // Also the first time: a change announced between this node loading
                    // the policies and subscribing would otherwise wait for the next one.
                    tracing::debug!(
                        "listening on the cluster channel; reading policies and settings"
                    );
                    for change in [Change::Policies, Change::Settings] {
                        if !refresh(&authz, change).await {
                            return;
                        }
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(text) = msg.get_payload::<String>() else {
                            continue;
                        };
                        let Some((node, what)) = text.split_once(' ') else {
                            continue;
                        };
                        if node == cluster.node {
                            continue;
                        }
                        let Some(change) = parse(what) else {
                            continue;
                        };
                        if !refresh(&authz, change).await {
                            return;
                        }
                    }
                    tracing::warn!("cluster channel lost");
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to the cluster channel"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot reach the cluster's redis"),
        }
        if authz.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads `change` again; false once the services are gone.
async fn refresh(authz: &Weak<Authz>, change: Change) -> bool {
    let Some(authz) = authz.upgrade() else {
        return false;
    };
    match authz.refresh(change).await {
        Ok(()) => {
            metrics::counter!("vitrine_cluster_refreshes_total", "what" => word(change))
                .increment(1);
            tracing::debug!(
                what = word(change),
                "read again after another node's change"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, what = word(change), "cannot read another node's change")
        }
    }
    true
}

fn word(change: Change) -> &'static str {
    match change {
        Change::Policies => "policies",
        Change::Settings => "settings",
    }
}

fn parse(word: &str) -> Option<Change> {
    match word {
        "policies" => Some(Change::Policies),
        "settings" => Some(Change::Settings),
        _ => None,
    }
}

/// A Redis URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_read_back_and_urls_lose_their_password() {
        for c in [Change::Policies, Change::Settings] {
            assert_eq!(parse(word(c)), Some(c));
        }
        assert_eq!(parse("everything"), None);
        assert_eq!(redact("redis://:s3cret@db:6379/0"), "redis://…@db:6379/0");
        assert_eq!(redact("redis://db:6379/0"), "redis://db:6379/0");
    }
}
