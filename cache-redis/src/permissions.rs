//! The check at connect that the Redis user may do everything the layer will do.
//!
//! `ACL DRYRUN` needs admin rights the layer's own user should not have, so the check really runs
//! one command of each kind the layer uses on probe keys of the namespace (`ns:@probe`,
//! `{lc:ns}:probe`, which expire within a minute) and on its channel. A command the user may not
//! run, or a key or channel it may not touch, is a [`RedisL2Error::Permission`] naming it, instead
//! of a layer that connects and then silently never works.
//!
//! Without a namespace at connect (it comes from the cache at attach), the commands are checked
//! at connect on placeholder keys, where only a refused *command* counts, and the keys and
//! channel are checked in the background at attach, with an `error!` log if one is refused.

use cache_core::log;
use std::time::Duration;

use redis::{Client, Cmd, RedisError, Script, Value};

use crate::connection::SharedConnection;
use crate::error::{redact_url, RedisL2Error};
use crate::keys::KeySpace;

/// The namespace probed at connect when the layer does not know its own yet: only refused
/// commands count there, not refused keys.
pub(crate) const PLACEHOLDER_NAMESPACE: &str = "layercache-permission-probe";

/// Checks the keys and channel of `namespace` once the layer learns it at attach; a refusal is
/// logged as an error (attach cannot fail).
pub(crate) async fn check_at_attach(probe: Probe, namespace: String) {
    if let Err(e) = probe.run(&namespace, true).await {
        tracing::error!(target: log::REDIS,
            namespace,
            error = %e,
            "the Redis user lacks a permission the layer needs: L2 operations will be refused"
        );
    }
}

/// How long probe keys live, should the clean-up `DEL` not run.
const PROBE_TTL_MS: u64 = 60_000;

/// What a refusal was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Command,
    Key,
    Channel,
}

/// Which kind of name a probe touches.
#[derive(Debug, Clone, Copy)]
enum Touches {
    /// `ns:@…`: values, tombstones, locks.
    Data,
    /// `{lc:ns}:…`: generation and tag versions.
    Internal,
    Channel,
    Nothing,
}

/// Where and how to probe.
#[derive(Clone)]
pub(crate) struct Probe {
    pub(crate) connection: SharedConnection,
    /// A client for a subscription connection (the server, or one cluster node).
    pub(crate) subscriber: Option<Client>,
    pub(crate) cluster: bool,
    pub(crate) timeout: Duration,
    /// For messages (redacted before use).
    pub(crate) url: String,
}

impl Probe {
    /// Checks every permission the layer needs on `namespace`'s keys and channel. With
    /// `keys_known == false` (a placeholder namespace) only refused commands are errors.
    pub(crate) async fn run(&self, namespace: &str, keys_known: bool) -> Result<(), RedisL2Error> {
        let space = KeySpace::new(namespace);
        let patterns = Patterns::of(&space);
        let data = format!("{}probe", data_prefix(&space));
        for (command, touches, cmd) in self.commands(&space, &data) {
            if let Err(e) = self.send(&cmd).await {
                self.judge(e, command, touches, &patterns, keys_known)?;
            }
        }
        if let Err(e) = self.evalsha(&data).await {
            self.judge(e, "EVALSHA", Touches::Data, &patterns, keys_known)?;
        }
        if let Err(e) = self.send(&one("DEL", &data)).await {
            self.judge(e, "DEL", Touches::Data, &patterns, keys_known)?;
        }
        if let Some(client) = &self.subscriber {
            if let Err(e) = self.subscribe(client, space.channel()).await {
                self.judge(e, "SUBSCRIBE", Touches::Channel, &patterns, keys_known)?;
            }
        }
        Ok(())
    }

    /// One command of each kind the layer sends, on probe keys (they expire within a minute;
    /// the data probe key is deleted last).
    fn commands(&self, space: &KeySpace, data: &str) -> Vec<(&'static str, Touches, Cmd)> {
        let internal = format!("{}probe", internal_prefix(space));
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(PROBE_SCRIPT);
        let mut list = vec![
            ("SET", Touches::Data, set_px(data)),
            ("GET", Touches::Data, one("GET", data)),
            ("STRLEN", Touches::Data, one("STRLEN", data)),
            ("GETRANGE", Touches::Data, getrange(data)),
            ("PTTL", Touches::Data, one("PTTL", data)),
            ("SET", Touches::Internal, set_px(&internal)),
            ("GET", Touches::Internal, one("GET", &internal)),
            ("TIME", Touches::Nothing, redis::cmd("TIME")),
            ("MGET", Touches::Internal, one("MGET", &internal)),
            (
                "PUBLISH",
                Touches::Channel,
                publish_nothing(space.channel()),
            ),
            ("SCRIPT LOAD", Touches::Nothing, load),
        ];
        if self.cluster {
            let mut nodes = redis::cmd("CLUSTER");
            nodes.arg("NODES");
            list.push(("CLUSTER NODES", Touches::Nothing, nodes));
            let mut slots = redis::cmd("CLUSTER");
            slots.arg("SLOTS");
            list.push(("CLUSTER SLOTS", Touches::Nothing, slots));
        }
        list
    }

    /// `EVALSHA` of a script reading the probe key (loaded on the key's node if missing there).
    async fn evalsha(&self, key: &str) -> Result<(), RedisError> {
        let script = Script::new(PROBE_SCRIPT);
        let invocation = script.key(key);
        let mut connection = self.connection.clone();
        let call = invocation.invoke_async::<Value>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(reply) => reply.map(drop),
            Err(_) => Err(crate::builder::timed_out()),
        }
    }

    async fn send(&self, cmd: &Cmd) -> Result<(), RedisError> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(self.timeout, cmd.query_async::<Value>(&mut connection)).await {
            Ok(reply) => reply.map(drop),
            Err(_) => Err(crate::builder::timed_out()),
        }
    }

    async fn subscribe(&self, client: &Client, channel: &str) -> Result<(), RedisError> {
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(crate::builder::timed_out()),
        }
    }

    /// Turns a refusal into an error; anything else (a probe key someone else holds, a slow
    /// answer) is not about permissions and is left to the layer's normal error handling.
    fn judge(
        &self,
        e: RedisError,
        command: &'static str,
        touches: Touches,
        patterns: &Patterns,
        keys_known: bool,
    ) -> Result<(), RedisL2Error> {
        let Some(refused) = refusal(&e) else {
            tracing::debug!(target: log::REDIS, command, error = %e, "permission probe failed for another reason");
            return Ok(());
        };
        if refused != Refused::Command && !keys_known {
            return Ok(());
        }
        let what = match (refused, touches) {
            (Refused::Command, _) => format!("run `{command}`"),
            (Refused::Key, Touches::Internal) => {
                format!("run `{command}` on keys `{}`", patterns.internal)
            }
            (Refused::Channel, _) | (Refused::Key, Touches::Channel) => {
                format!("run `{command}` on channel `{}`", patterns.channel)
            }
            (Refused::Key, _) => format!("run `{command}` on keys `{}`", patterns.data),
        };
        Err(RedisL2Error::Permission {
            url: redact_url(&self.url),
            what,
            reason: e.to_string(),
        })
    }
}

/// The names an ACL must allow for one namespace.
struct Patterns {
    data: String,
    internal: String,
    channel: String,
}

impl Patterns {
    fn of(space: &KeySpace) -> Patterns {
        Patterns {
            data: format!("{}*", data_prefix(space)),
            internal: format!("{}*", internal_prefix(space)),
            channel: space.channel().to_owned(),
        }
    }
}

/// `ns:@` (`@` in the empty namespace): every value, tombstone and lock key of the namespace
/// starts with it.
fn data_prefix(space: &KeySpace) -> String {
    let lock = space.lock_key("");
    lock.strip_suffix("lock:")
        .or_else(|| lock.strip_suffix("lock!"))
        .unwrap_or(&lock)
        .to_owned()
}

/// `{lc:ns}:`: the generation and every tag version start with it.
fn internal_prefix(space: &KeySpace) -> String {
    let generation = space.generation_key();
    generation
        .strip_suffix("gen")
        .unwrap_or(generation)
        .to_owned()
}

/// Reads its key, so `EVALSHA` is checked against the key patterns like the layer's scripts.
const PROBE_SCRIPT: &str = "return redis.call('PTTL', KEYS[1])";

fn one(command: &str, key: &str) -> Cmd {
    let mut cmd = redis::cmd(command);
    cmd.arg(key);
    cmd
}

fn set_px(key: &str) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg("0").arg("PX").arg(PROBE_TTL_MS);
    cmd
}

fn getrange(key: &str) -> Cmd {
    let mut cmd = redis::cmd("GETRANGE");
    cmd.arg(key).arg(0).arg(0);
    cmd
}

/// An empty message: subscribers ignore it.
fn publish_nothing(channel: &str) -> Cmd {
    let mut cmd = redis::cmd("PUBLISH");
    cmd.arg(channel).arg("");
    cmd
}

/// Whether `e` is an ACL refusal, and of what. Plain commands answer `NOPERM …`; commands run by
/// a script answer `ERR The user executing the script can't …`.
fn refusal(e: &RedisError) -> Option<Refused> {
    let text = e.to_string();
    let from_script = text.contains("user executing the script can't");
    if e.code() != Some("NOPERM") && !from_script {
        return None;
    }
    Some(if text.contains("channel") {
        Refused::Channel
    } else if text.contains("key") {
        Refused::Key
    } else {
        Refused::Command
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_every_key_and_the_channel() {
        let space = KeySpace::new("shop:v1");
        let p = Patterns::of(&space);
        assert_eq!(p.data, "shop:v1:@*");
        assert_eq!(p.internal, "{lc:shop:v1}:*");
        assert_eq!(p.channel, "{lc:shop:v1}:bp");
        assert!(space.data_key("k").starts_with("shop:v1:@"));
        assert!(space.lock_key("k").starts_with("shop:v1:@"));
        assert!(space.tag_key("t").starts_with("{lc:shop:v1}:"));
        let bare = KeySpace::new("");
        assert_eq!(Patterns::of(&bare).data, "@*");
        assert!(bare.data_key("k").starts_with('@') && bare.lock_key("k").starts_with('@'));
    }
}
